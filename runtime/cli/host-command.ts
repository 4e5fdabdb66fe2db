/** `tribe host`: run a host in the foreground until Ctrl-C or `tribe stop`. */
import { fileURLToPath } from 'node:url';
import { describeError, reviveError } from '../../capabilities/errors.js';
import type { VatLimits } from '../../vats/supervisor.js';
import { startHost, type Host, type HostOptions } from '../host.js';
import { startSisterHost, type TribeOptions } from '../tribe/sister-host.js';
import { SLOT_TAKEN_EXIT } from '../tribe/spawner.js';
import { homePaths } from '../home.js';
import { formatAddress } from '../tcp.js';
import { shortVatId } from '../../protocols/session/vat-id.js';

/** The example actors `--examples` (and `npm start`) load, from the source tree. */
const EXAMPLES = [
  { name: 'counter', file: 'counter.ts', durable: true, params: null },
  { name: 'chat', file: 'chat-room.ts', durable: false, params: null },
  { name: 'alice', file: 'chat-member.ts', durable: false, params: { room: 'chat', name: 'alice' } },
  { name: 'bob', file: 'chat-member.ts', durable: false, params: { room: 'chat', name: 'bob' } },
  { name: 'directory', file: 'pipeline.ts', durable: false, params: null },
  { name: 'pipeline', file: 'pipeline.ts', durable: false, params: { target: 'directory' } },
] as const;
const examplesDir = fileURLToPath(new URL('../../../vats/examples/', import.meta.url));

const loadExamples = async (host: Host) => {
  for (const ex of EXAMPLES) {
    if (host.ps().vats.some((v) => v.name === ex.name)) continue;
    try {
      await host.spawnVat({ module: `${examplesDir}${ex.file}`, name: ex.name, durable: ex.durable, params: ex.params });
      process.stdout.write(`spawned example ${ex.name}\n`);
    } catch (err) {
      process.stdout.write(`example ${ex.name} did not start: ${describeError(reviveError(err))}\n`);
    }
  }
  process.stdout.write(
    [
      '',
      'Try, in another terminal (add --home if you gave one here):',
      '  npx tribe call counter increment',
      '  npx tribe call counter read',
      '  npx tribe call alice say \'"hi bob"\'     (alice and bob joined the chat by reference)',
      '  npx tribe call bob inbox',
      '  npx tribe call pipeline demo          (a pipelined chain into the directory vat)',
      '  npx tribe ps                          (the tribe: this host and its sisters, vats, sessions)',
      '  npx tribe spawn vats/examples/counter.ts --name c2   (placed on the sister with the fewest vats)',
      '  npx tribe ref counter                 (a sturdy ref another host can `tribe connect` to)',
      ...(host.vizUrl ? [`${`  open ${host.vizUrl}`.padEnd(40)}(the visualizer: every machine of every sister, live)`] : []),
      '  npx tribe stop          (or Ctrl-C here: either stops the whole tribe)',
      '',
    ].join('\n'),
  );
};

export const runHostCommand = async (opts: {
  home?: string;
  limits: Partial<VatLimits>;
  examples: boolean;
  listen?: string | false;
  advertise?: string;
  sessionGraceMs?: number;
  bridge?: boolean;
  bridges?: readonly string[];
  viz: boolean | number;
  /** Run as a sister of a tribe (absent: `--solo`). */
  tribe?: TribeOptions;
}): Promise<void> => {
  const hostOptions: HostOptions = {
    ...(opts.home ? { home: opts.home } : {}),
    ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
    ...(opts.advertise ? { advertise: opts.advertise } : {}),
    ...(opts.sessionGraceMs !== undefined ? { sessionGraceMs: opts.sessionGraceMs } : {}),
    ...(opts.bridge ? { bridge: true } : {}),
    ...(opts.bridges ? { bridges: opts.bridges } : {}),
    limits: opts.limits,
    viz: opts.viz,
    print: (line) => process.stdout.write(`${line}\n`),
  };
  let host: Host;
  if (opts.tribe) {
    // What the sisters this host spawns are started with, besides their home, slot and core size.
    const spawnArgs = [
      ...(opts.listen ? ['--listen', opts.listen.replace(/:\d+$/, ':0')] : []),
      ...(opts.tribe.discovery === false ? ['--no-discovery'] : opts.tribe.discovery ? ['--discovery', opts.tribe.discovery] : []),
      ...(opts.sessionGraceMs !== undefined ? ['--session-grace', String(opts.sessionGraceMs)] : []),
      ...(opts.limits.timeBudgetMs ? ['--time-budget', String(opts.limits.timeBudgetMs)] : []),
      ...(opts.limits.heapMb ? ['--heap-mb', String(opts.limits.heapMb)] : []),
    ];
    try {
      ({ host } = await startSisterHost(hostOptions, { ...opts.tribe, spawnArgs }));
    } catch (err) {
      // A spawner that lost the race for this slot: not an error, the slot has its sister.
      if ((err as Error).name === 'SlotTakenError') {
        process.stdout.write(`${(err as Error).message}\n`);
        process.exit(SLOT_TAKEN_EXIT);
      }
      throw err;
    }
  } else host = await startHost(hostOptions);
  let signalled = false;
  // Ctrl-C in the terminal of a host started by hand stops its tribe, as `tribe stop` does: the
  // sisters it spawned run detached and would otherwise live on (and start it again). SIGTERM,
  // how a tribe's stop asks a sister by pid, stops this host only.
  const stopTribeToo = opts.tribe !== undefined && opts.tribe.slot === undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(130); // a second Ctrl-C does not wait
    signalled = true;
    if (signal === 'SIGINT' && stopTribeToo) {
      process.stdout.write('stopping the tribe…\n');
      void (async () => {
        try {
          await host.stopSisters();
        } catch (err) {
          process.stdout.write(`the tribe did not stop cleanly: ${describeError(reviveError(err))}\n`);
        }
        await host.stop();
      })();
      return;
    }
    process.stdout.write('stopping…\n');
    void host.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const listen = host.address ? formatAddress(host.address.host, host.address.port) : 'off (--no-listen)';
  process.stdout.write(
    `tribe host ${shortVatId(host.id)}\n  id      ${host.id}\n  home    ${host.home}\n  control ${homePaths(host.home).socket}\n  listen  ${listen}\n  viz     ${host.vizUrl ?? 'off (--no-viz)'}\n`,
  );
  const status = host.ps();
  // Other hosts name this bridge by this ref (`--bridges`).
  if (status.bridgeRef) process.stdout.write(`  bridge  ${status.bridgeRef}\n`);
  if (status.bridges && status.bridges.known.length > 0) process.stdout.write(`  bridges ${status.bridges.known.length} known\n`);
  if (opts.examples) await loadExamples(host);
  // Tests and scripts wait for this line.
  process.stdout.write(`ready pid=${process.pid}\n`);
  await host.stopped;
  process.stdout.write('host stopped\n');
  process.exit(0);
};
