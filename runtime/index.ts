/**
 * Programmatic API: `import { startHost, connect } from 'tribe-runtime'`.
 *
 * Importing this module locks down the realm (SES) the way any Endo program must
 * before it uses E() and Far: intrinsics become frozen. The program's own
 * uncaught errors still print as Node prints them (./lockdown.ts).
 *
 * Actor modules take only types from here (`import type { Powers, MakeActor }`):
 * a type-only import is erased when the host loads the module.
 *
 * The build gives this file's declarations a reference to types/*.d.ts (copied
 * into dist/types/: declarations for packages that ship none), so a consumer's
 * `tsc` with `skipLibCheck: false` accepts them (scripts/postbuild.mjs).
 */
import './lockdown.js';

export { connect, type ClientSpace, type ConnectOptions, type TribeClient } from './client.js';
export type { KeyedSpace, SyncReport, SyncRequest, SyncResult, SyncStatus, SyncSagaView } from './host-api.js';
export * from '../protocols/saga/errors.js';
export { startHost, callByName, type Host, type HostOptions, type HostStatus, type RestartedVat, type SpawnOptions } from './host.js';
export type { UpgradedVat, UpgradeOptions } from './upgrade.js';
export type { VatId } from './identity.js';
export type { DurableBehavior, DurableContext, DurableInstance, DurableKinds, Log, MakeActor, Names, Powers, Store, Timer } from '../vats/powers.js';
export type { StoredSturdyRef } from './store.js';
export type { VatLimits, VatStatus } from '../vats/supervisor.js';
export { DEFAULT_LIMITS } from '../vats/supervisor.js';
export * from '../capabilities/errors.js';
export * from '../vats/errors.js';
export * from './errors.js';
export { E, Far } from '@endo/far';
