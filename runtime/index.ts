/**
 * Programmatic API: `import { startHost, connect } from 'tribe-runtime'`.
 *
 * Importing this module locks down the realm (SES) the way any Endo program must
 * before it uses E() and Far: intrinsics become frozen. The program's own
 * uncaught errors still print as Node prints them (./lockdown.ts).
 */
import './lockdown.js';

export { connect, type ConnectOptions, type TribeClient } from './client.js';
export { startHost, callByName, type Host, type HostOptions, type HostStatus, type SpawnOptions } from './host.js';
export type { VatId } from './identity.js';
export type { VatLimits, VatStatus } from '../vats/supervisor.js';
export { DEFAULT_LIMITS } from '../vats/supervisor.js';
export * from '../capabilities/errors.js';
export * from '../vats/errors.js';
export * from './errors.js';
export { E, Far } from '@endo/far';
