/**
 * Programmatic API: `import { startHost } from 'tribe'`.
 *
 * Importing this module locks down the realm (SES, via @endo/init) the way any
 * Endo program must before it uses E() and Far: intrinsics become frozen.
 */
import '@endo/init';

export { startHost, callByName, type Host, type HostOptions, type HostStatus, type RestartedVat, type SpawnOptions } from './host.js';
export type { VatId } from './identity.js';
export type { StoredSturdyRef } from './store.js';
export type { VatLimits, VatStatus } from '../vats/supervisor.js';
export { DEFAULT_LIMITS } from '../vats/supervisor.js';
export * from '../capabilities/errors.js';
export * from '../vats/errors.js';
export * from './errors.js';
export { E, Far } from '@endo/far';
