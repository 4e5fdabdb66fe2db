/** The supervisor's own bookkeeping, without workers: what it remembers about ends is bounded. */
import '@endo/init';
import test from 'ava';
import { MAX_END_REASONS, makeSupervisor } from '../../vats/supervisor.js';
import { makeNameRegistry } from '../../capabilities/names.js';

const idle = () =>
  makeSupervisor({
    startWorker: () => {
      throw new Error('no workers in this test');
    },
    makePortPair: () => [{}, {}],
    names: makeNameRegistry(),
    compileModule: async () => {
      throw new Error('no modules in this test');
    },
    print: () => {},
  });

test('why-ended reasons of remote endpoints that come and go are bounded: the newest kept, the oldest forgotten', (t) => {
  const supervisor = idle();
  const peers = MAX_END_REASONS * 3;
  for (let i = 0; i < peers; i++) supervisor.remotePeerGone('v', `peer${i}/ep`, `SessionLostError: session ${i} ended`);
  t.is(supervisor.whyEnded(`peer${peers - 1}/ep`), `SessionLostError: session ${peers - 1} ended`);
  t.is(supervisor.whyEnded(`peer${peers - MAX_END_REASONS}/ep`), `SessionLostError: session ${peers - MAX_END_REASONS} ended`, 'the newest MAX_END_REASONS are all kept');
  t.is(supervisor.whyEnded(`peer${peers - MAX_END_REASONS - 1}/ep`), `VatTerminatedError: vat "peer${peers - MAX_END_REASONS - 1}/ep" is gone`, 'older ones are forgotten');
  t.is(supervisor.whyEnded('peer0/ep'), 'VatTerminatedError: vat "peer0/ep" is gone');
});

test('an endpoint that ends again moves to the newest place', (t) => {
  const supervisor = idle();
  supervisor.remotePeerGone('v', 'kept/ep', 'first');
  for (let i = 0; i < MAX_END_REASONS - 1; i++) supervisor.remotePeerGone('v', `p${i}`, 'x');
  supervisor.remotePeerGone('v', 'kept/ep', 'again');
  supervisor.remotePeerGone('v', 'one-more', 'x');
  t.is(supervisor.whyEnded('kept/ep'), 'again');
  t.is(supervisor.whyEnded('p0'), 'VatTerminatedError: vat "p0" is gone');
});
