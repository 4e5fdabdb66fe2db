// Placeholder entry; the page is being written.
export {};
