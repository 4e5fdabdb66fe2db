/**
 * `tribe logs [NAME] [-f] [-n N]`: the vats' log lines kept in the home
 * (runtime/vat-logs.ts). It reads the files, not the control socket, so it
 * works the same while the host runs and after it stopped.
 */
import { type FSWatcher, watch } from 'node:fs';
import { followVatLogs, logDir, parseLogLine } from '../vat-logs.js';

/**
 * How often `-f` looks for new lines when no file-system event woke it. Events
 * (inotify) make it prompt; this catches what they miss: a logs directory made
 * after `-f` started, file systems without events.
 */
export const FOLLOW_POLL_MS = 1000;

export interface LogsOptions {
  readonly home: string;
  /** Only this vat's lines. */
  readonly vat?: string;
  /** Keep printing new lines until SIGINT or SIGTERM. */
  readonly follow: boolean;
  /** Of the lines kept, print only the last N. */
  readonly last?: number;
  readonly write: (text: string) => void;
}

export const runLogsCommand = async (opts: LogsOptions): Promise<void> => {
  const follower = followVatLogs(opts.home);
  const mine = (line: string) => opts.vat === undefined || parseLogLine(line)?.vat === opts.vat;
  const print = (lines: string[]) => {
    const shown = lines.filter(mine);
    if (shown.length > 0) opts.write(`${shown.join('\n')}\n`);
  };
  const kept = follower.poll().filter(mine);
  print(opts.last === undefined ? kept : kept.slice(Math.max(0, kept.length - opts.last)));
  if (!opts.follow) {
    follower.close();
    return;
  }

  let watcher: FSWatcher | undefined;
  const startWatching = () => {
    try {
      watcher = watch(logDir(opts.home), () => print(follower.poll()));
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined; // no logs directory yet: the poll below looks again
    }
  };
  startWatching();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (!watcher) startWatching();
      print(follower.poll());
    }, FOLLOW_POLL_MS);
    const end = () => {
      clearInterval(timer);
      watcher?.close();
      follower.close();
      process.off('SIGINT', end);
      process.off('SIGTERM', end);
      resolve();
    };
    // Ctrl-C ends following cleanly (exit 0); so does a reader that went away (`| head`).
    process.on('SIGINT', end);
    process.on('SIGTERM', end);
    process.stdout.on('error', end);
  });
};
