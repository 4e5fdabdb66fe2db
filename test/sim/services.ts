/**
 * Replicated counter and register services as Raft state machines, with
 * exactly-once semantics: a command carries `{client, seq, op}` and the
 * replicated state holds, per client, the last seq applied and its result.
 * Clients have one op outstanding at a time and retry it with the same seq, so
 * a command whose seq is the last one applied is a duplicate (a retry that
 * also committed, or a duplicated message): it answers the stored result and
 * changes nothing. An older seq is a stale retry nobody waits for: ignored.
 * The dedupe table is part of the state, so it survives snapshots.
 */
import type { StateMachine } from '../../protocols/raft/types.js';
import { type CounterInput, counterModel, type Model, type RegisterInput, registerModel } from './linearizability.js';

export type ServiceKind = 'counter' | 'register';
export type ServiceInput = CounterInput | RegisterInput;

export interface ClientCommand {
  readonly client: string;
  readonly seq: number;
  readonly op: ServiceInput;
}

export interface ServiceState {
  value: unknown;
  sessions: Record<string, { seq: number; result: unknown }>;
}

/** What an applied command answers when it was a stale retry of an op the client already finished. */
export const STALE = { stale: true } as const;

export interface ServiceOptions {
  /** False makes the mutant service that applies every copy of a command (no exactly-once). */
  readonly dedupe?: boolean;
  /** Told about every duplicate the table suppressed, with the log index it came in at. */
  readonly onDuplicate?: (index: number) => void;
}

export interface Service {
  readonly machine: StateMachine;
  /** The replica's state (value and dedupe table), as the convergence check compares it. */
  readonly state: () => ServiceState;
}

export const modelOf = (kind: ServiceKind): Model<any, any, any> => (kind === 'counter' ? counterModel : registerModel);

const copy = (s: ServiceState): ServiceState => ({
  value: s.value,
  sessions: Object.fromEntries(Object.entries(s.sessions).map(([c, e]) => [c, { ...e }])),
});

const isCommand = (data: unknown): data is ClientCommand =>
  typeof data === 'object' && data !== null && typeof (data as ClientCommand).client === 'string' && typeof (data as ClientCommand).seq === 'number';

export const makeService = (kind: ServiceKind, options: ServiceOptions = {}): Service => {
  const model = modelOf(kind);
  const dedupe = options.dedupe ?? true;
  let state: ServiceState = { value: model.init(), sessions: {} };
  const machine: StateMachine = {
    apply: (data, index) => {
      if (!isCommand(data)) throw new TypeError(`not a client command at ${index}: ${JSON.stringify(data)}`);
      const last = state.sessions[data.client];
      if (dedupe && last && data.seq <= last.seq) {
        if (data.seq < last.seq) return STALE;
        options.onDuplicate?.(index);
        return last.result;
      }
      const { state: next, output } = model.step(state.value, data.op);
      state.value = next;
      state.sessions[data.client] = { seq: data.seq, result: output };
      return output;
    },
    snapshot: () => copy(state),
    restore: (data) => {
      state = copy(data as ServiceState);
    },
  };
  return { machine, state: () => copy(state) };
};
