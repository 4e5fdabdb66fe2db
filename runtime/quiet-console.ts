/**
 * @endo/marshal logs every error it sends across CapTP ("Temporary logging of
 * sent error") to console.log. In a host that relays calls that is one stack dump
 * per failed call: noise for users. Route those lines to stderr only when
 * TRIBE_DEBUG is set; leave everything else untouched.
 */
let installed = false;
export const quietMarshalLogging = (debug = Boolean(process.env['TRIBE_DEBUG'])): void => {
  if (installed) return;
  installed = true;
  const original = globalThis.console;
  const log = original.log.bind(original);
  // defineProperty, not assignment: the tamed console is frozen, and assigning
  // over an inherited frozen property throws (the "override mistake").
  const quiet = Object.create(original, {
    log: {
      value: (...args: unknown[]) => {
        if (args[0] === 'Temporary logging of sent error') {
          if (debug) original.error(...args);
          return;
        }
        log(...args);
      },
    },
  }) as Console;
  globalThis.console = quiet;
};
