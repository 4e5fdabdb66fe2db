/**
 * The front of a replicated service (runtime/replica/front.ts) against a
 * scripted route of fake replica endpoints: redirects followed to the named
 * member, failed members forgotten and skipped with the same call id, final
 * errors thrown by name and never retried, silent members abandoned after
 * attemptMs, ServiceUnavailableError at the deadline, `ready()` building the
 * leader's methods, and call ids unique per call and stable across retries.
 * Limits are shrunk through `limits`, so every wait is bounded by them.
 */
import '@endo/init';
import { Far } from '@endo/far';
import test, { type ExecutionContext } from 'ava';
import { type FrontLimits, makeFront, type ServiceRoute } from '../../runtime/replica/front.js';
import { LOCAL_MS, within } from '../helpers/bounded.js';

const SERVICE = 'counter';
const A = `A${'a'.repeat(51)}`;
const B = `B${'b'.repeat(51)}`;
const C = `C${'c'.repeat(51)}`;

type Answer = { ok?: unknown; error?: { name: string; message: string }; unreplayable?: string; leader?: string | null; methods?: string[] };
/** What a fake endpoint was asked. */
type Asked = { member: string; kind: 'invoke' | 'methods'; group: unknown; callId?: unknown; method?: unknown; args?: unknown };
/** How a fake endpoint answers: an answer, a promise of one (or of a rejection), or a throw. */
type Behave = (asked: Asked, nth: number) => Answer | Promise<Answer>;

/**
 * The front's pause between rounds does not keep a process alive (a host's sockets do); nothing
 * else does here, so each test holds the event loop until its teardown.
 */
const hold = (t: ExecutionContext) => {
  const alive = setInterval(() => {}, 1_000);
  t.teardown(() => clearInterval(alive));
};

const never = () => new Promise<Answer>(() => {});
const lost = (m: string) => () => Promise.reject(new Error(`SessionLostError: the session to ${m.slice(0, 8)} ended`));

/** A route over fake endpoints; records every call, every endpoint fetch and every forget. */
const scripted = (behaviour: Record<string, Behave>, members = Object.keys(behaviour)) => {
  const asked: Asked[] = [];
  const fetched: string[] = [];
  const forgotten: string[] = [];
  const endpoints = new Map<string, unknown>();
  const endpointOf = (member: string) => {
    const ask = (a: Asked) => {
      asked.push(a);
      return behaviour[member]!(a, asked.filter((x) => x.member === member).length);
    };
    return Far('ReplicaEndpoint', {
      invoke: (group: unknown, callId: unknown, method: unknown, args: unknown) => ask({ member, kind: 'invoke', group, callId, method, args }),
      methods: (group: unknown) => ask({ member, kind: 'methods', group }),
    });
  };
  const route: ServiceRoute = {
    members: () => members,
    endpoint: async (member) => {
      fetched.push(member);
      if (!endpoints.has(member)) endpoints.set(member, endpointOf(member));
      return endpoints.get(member);
    },
    forget: (member) => {
      forgotten.push(member);
      endpoints.delete(member);
    },
  };
  return { route, asked, fetched, forgotten, who: () => asked.map((a) => a.member) };
};

/** Small limits: no test waits longer than these (the pauses are long so that a test relying on one would time out). */
const FAST: Partial<FrontLimits> = { attemptMs: 60, callDeadlineMs: 400, retryMinMs: 5, retryMaxMs: 20 };
const front = (route: ServiceRoute, limits: Partial<FrontLimits> = FAST) => makeFront({ name: SERVICE, route, limits });
const METHODS: Behave = () => ({ methods: ['incr', 'get'] });
/** A leader: methods, and `ok` with what it was asked. */
const leads: Behave = (a) => (a.kind === 'methods' ? { methods: ['incr', 'get'] } : { ok: `${a.member.slice(0, 1)}:${String(a.method)}` });
const call = async (f: ReturnType<typeof front>, method: string, ...args: unknown[]) => {
  const o = (await within(f.ready(), LOCAL_MS, 'ready')) as Record<string, (...a: unknown[]) => Promise<unknown>>;
  return within(o[method]!(...args), LOCAL_MS, `${method}()`);
};

test('ready() builds an object whose methods are the ones the leader listed, calling invoke with the service name and arguments', async (t) => {
  hold(t);
  const s = scripted({ [A]: leads });
  const f = front(s.route);
  const o = (await within(f.ready(), LOCAL_MS, 'ready')) as Record<string, (...a: unknown[]) => Promise<unknown>>;
  t.deepEqual(Object.keys(o).sort(), ['get', 'incr']);
  t.is(f.ready(), f.ready(), 'one object per front');
  t.is(await within(o['incr']!(5, 'x'), LOCAL_MS, 'incr'), 'A:incr');
  const inv = s.asked.find((a) => a.kind === 'invoke')!;
  t.deepEqual([inv.group, inv.method, inv.args], [SERVICE, 'incr', [5, 'x']]);
  t.deepEqual(s.asked.find((a) => a.kind === 'methods')?.group, SERVICE);
});

test('a redirect is followed straight to the member it names, without the pause between rounds', async (t) => {
  hold(t);
  const s = scripted({ [A]: (a) => (a.kind === 'methods' ? METHODS(a, 0) : { leader: C }), [B]: leads, [C]: leads });
  // A pause of a minute: were the redirect followed only after it, the call would not settle within LOCAL_MS.
  const f = front(s.route, { ...FAST, callDeadlineMs: 120_000, retryMinMs: 60_000, retryMaxMs: 60_000 });
  t.is(await call(f, 'incr'), 'C:incr');
  t.deepEqual(s.who(), [A, A, C], 'methods at A (it leads for all the fake knows), then incr at A, redirected to C; B never asked');
  t.is(await call(f, 'get'), 'C:get');
  t.deepEqual(s.who().slice(3), [C], 'the next call goes to the leader first');
  t.deepEqual(s.forgotten, [], 'a redirect is no failure');
});

test('replicas that name each other (a stale leader) are still asked with pauses, until the deadline', async (t) => {
  hold(t);
  const s = scripted({ [A]: () => ({ leader: B }), [B]: () => ({ leader: A }) });
  const limits = { attemptMs: 40, callDeadlineMs: 200, retryMinMs: 10, retryMaxMs: 10 };
  await t.throwsAsync(within(front(s.route, limits).ready(), LOCAL_MS, 'ready'), { name: 'ServiceUnavailableError', message: /\(last: (Aaaaaaaa|Bbbbbbbb) does not lead \(it names (Aaaaaaaa|Bbbbbbbb)\)\)/ });
  // At most two asks per 10 ms pause (one redirect is followed at once); without pauses, thousands.
  t.true(s.asked.length <= 2 * (200 / 10 + 2), `${s.asked.length} asks in 200 ms`);
});

test('a redirect to a non-member, to itself or to no leader is not followed: the next member is asked', async (t) => {
  hold(t);
  const s = scripted({ [A]: () => ({ leader: 'stranger' }), [B]: () => ({ leader: B }), [C]: (a, n) => (n === 1 ? { leader: null } : leads(a, n)) });
  t.is(await call(front(s.route), 'incr'), 'C:incr');
  // methods: A, B, C (no leader), then A, B, C again after the pause; incr at C, the leader by then.
  t.deepEqual(s.who(), [A, B, C, A, B, C, C]);
});

test('a member whose endpoint rejects is forgotten and skipped; the same call id is sent to the next', async (t) => {
  hold(t);
  const s = scripted({ [A]: (a, n) => (n <= 1 ? leads(a, n) : lost(A)()), [B]: leads });
  const f = front(s.route);
  t.is(await call(f, 'incr'), 'B:incr');
  const [one, two] = s.asked.filter((a) => a.kind === 'invoke');
  t.deepEqual([one?.member, two?.member], [A, B]);
  t.is(one?.callId, two?.callId, 'one call id across the retry');
  t.deepEqual(s.forgotten, [A]);
  t.is(await call(f, 'get'), 'B:get');
  t.deepEqual(s.who().slice(3), [B], 'the next call starts at B, the member that answered');
});

test('a member that answers something that is no answer (undefined, a number) is skipped; the same call id goes to the next', async (t) => {
  hold(t);
  const garbage = [undefined, 7] as unknown as Answer[];
  const s = scripted({ [A]: (a, n) => (a.kind === 'methods' ? leads(a, n) : garbage[(n - 2) % 2]!), [B]: leads });
  const f = front(s.route);
  t.is(await call(f, 'incr'), 'B:incr');
  const invokes = s.asked.filter((a) => a.kind === 'invoke');
  t.deepEqual(invokes.map((a) => a.member), [A, B]);
  t.is(invokes[0]?.callId, invokes[1]?.callId, 'one call id across the retry');
  t.is(await call(f, 'get'), 'B:get', 'and the front goes on with the member that answered');
});

test('an endpoint that cannot be reached (the route rejects) is skipped the same way', async (t) => {
  hold(t);
  const s = scripted({ [A]: leads, [B]: leads });
  const endpoint = s.route.endpoint;
  s.route.endpoint = (m) => (m === A ? Promise.reject(new Error('SessionLostError: no path to A')) : endpoint(m));
  t.is(await call(front(s.route), 'incr'), 'B:incr');
  t.deepEqual(s.forgotten, [A], 'forgotten when methods was asked; incr starts at B, the member that answered');
  t.deepEqual(s.who(), [B, B]);
});

test('an { error } answer is thrown with its name and message, and not retried', async (t) => {
  hold(t);
  const s = scripted({
    [A]: (a) => (a.kind === 'methods' ? METHODS(a, 0) : a.method === 'incr' ? { error: { name: 'NameTakenError', message: 'NameTakenError: the name "x" is published' } } : { error: { name: 'RangeError', message: 'too big' } }),
    [B]: leads,
  });
  const f = front(s.route);
  await t.throwsAsync(call(f, 'incr'), { name: 'NameTakenError', message: 'NameTakenError: the name "x" is published' });
  await t.throwsAsync(call(f, 'get'), { name: 'RangeError', message: 'RangeError: too big' });
  t.deepEqual(s.who(), [A, A, A], 'one ask per call, B never');
  t.deepEqual(s.forgotten, []);
});

test('an { unreplayable } answer rejects with ServiceUnavailableError naming the service', async (t) => {
  hold(t);
  const s = scripted({ [A]: (a) => (a.kind === 'methods' ? METHODS(a, 0) : { unreplayable: 'ReplicaReplyExpiredError: the reply is gone' }) });
  await t.throwsAsync(call(front(s.route), 'incr'), { name: 'ServiceUnavailableError', message: /^ServiceUnavailableError: service counter: ReplicaReplyExpiredError/ });
});

test('a member that never answers is abandoned after attemptMs and forgotten; the same call goes to the next', async (t) => {
  hold(t);
  const s = scripted({ [A]: (a, n) => (n <= 1 ? leads(a, n) : never()), [B]: leads });
  const f = front(s.route);
  await within(f.ready(), LOCAL_MS, 'ready');
  const started = Date.now();
  t.is(await call(f, 'incr'), 'B:incr');
  t.true(Date.now() - started >= (FAST.attemptMs ?? 0) - 5, 'A was given its attempt');
  const [one, two] = s.asked.filter((a) => a.kind === 'invoke');
  t.deepEqual([one?.member, two?.member], [A, B]);
  t.is(one?.callId, two?.callId);
  t.deepEqual(s.forgotten, [A]);
});

test('no leader by the deadline: ServiceUnavailableError naming the service and the last failure', async (t) => {
  hold(t);
  const limits = { attemptMs: 40, callDeadlineMs: 250, retryMinMs: 5, retryMaxMs: 20 };
  const s1 = scripted({ [A]: lost(A), [B]: lost(B) });
  const started = Date.now();
  const err = await t.throwsAsync(within(front(s1.route, limits).ready(), LOCAL_MS, 'ready'), { name: 'ServiceUnavailableError' });
  t.regex(err.message, /^ServiceUnavailableError: service counter: no leader answered its methods within 250 ms \(last: (Aaaaaaaa|Bbbbbbbb): SessionLostError: the session to/);
  t.true(Date.now() - started >= limits.callDeadlineMs);
  t.true(s1.asked.length > 2, 'rounds were retried until the deadline');
  t.true(s1.forgotten.length === s1.asked.length, 'every failure forgot its member');

  const s2 = scripted({ [A]: (a, n) => (n <= 1 ? leads(a, n) : never()) });
  const f2 = front(s2.route, limits);
  await within(f2.ready(), LOCAL_MS, 'ready');
  await t.throwsAsync(call(f2, 'incr'), { name: 'ServiceUnavailableError', message: /no leader answered incr\(\) within 250 ms \(last: Aaaaaaaa did not answer within 40 ms\)/ });
  const ids = new Set(s2.asked.filter((a) => a.kind === 'invoke').map((a) => a.callId));
  t.is(ids.size, 1, 'every attempt of the call carried its one id');

  const s3 = scripted({ [A]: () => ({ leader: null }) });
  await t.throwsAsync(within(front(s3.route, limits).ready(), LOCAL_MS, 'ready'), { name: 'ServiceUnavailableError', message: /\(last: Aaaaaaaa does not lead and knows no leader\)/ });
});

test('call ids are unique per call (sequential, concurrent, across fronts) and identical across the retries of one call', async (t) => {
  hold(t);
  // A fails every other invoke, so each call is retried once at B.
  const s = scripted({ [A]: (a, n) => (a.kind === 'methods' || n % 2 === 1 ? leads(a, n) : lost(A)()), [B]: (a, n) => (n % 2 === 1 ? lost(B)() : leads(a, n)) });
  const f = front(s.route);
  const o = (await within(f.ready(), LOCAL_MS, 'ready')) as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (let i = 0; i < 4; i += 1) await within(o['incr']!(i), LOCAL_MS, 'incr');
  await within(Promise.all([o['incr']!(), o['get']!(), o['incr']!()]), LOCAL_MS, 'concurrent calls');
  const g = (await within(front(s.route).ready(), LOCAL_MS, 'ready')) as Record<string, () => Promise<unknown>>;
  await within(g['get']!(), LOCAL_MS, 'get at another front');
  const invokes = s.asked.filter((a) => a.kind === 'invoke');
  const byId = new Map<unknown, Asked[]>();
  for (const a of invokes) byId.set(a.callId, [...(byId.get(a.callId) ?? []), a]);
  t.is(byId.size, 8, 'eight calls, eight ids');
  for (const tries of byId.values()) t.true(new Set(tries.map((a) => JSON.stringify([a.method, a.args]))).size === 1, 'one id, one call');
  t.true(invokes.length > byId.size, 'some calls were retried under their id');
  const prefixes = new Set([...byId.keys()].map((id) => String(id).split('.')[0]));
  t.is(prefixes.size, 2, 'each front has its own id');
});
