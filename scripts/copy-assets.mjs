console.log("noop")
