/**
 * A CPU profile of a process whose command line the bench does not write (a
 * sister that its tribe's first host spawns): preloaded with
 * `NODE_OPTIONS=--import=<this file's URL>` (Node refuses `--cpu-prof` there)
 * and TRIBE_BENCH_CPU_PROF_DIR set, it profiles the main thread from the start
 * and writes `<dir>/<pid>.cpuprofile` when the process exits (as `--cpu-prof`
 * does; nothing is written on SIGKILL). Section 10 uses it with
 * TRIBE_BENCH_SAGA_PROFILE; summarize with cpuprofile-summary.js.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env['TRIBE_BENCH_CPU_PROF_DIR'];
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  // An in-process session answers synchronously: the profile is written before the process is gone.
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
