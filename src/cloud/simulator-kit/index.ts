/**
 * What every cloud simulator shares (see server.ts for the pipeline and admin API). A cloud's simulator
 * is then its paths, JSON/XML shapes, auth scheme and error bodies: build a CloudSimulatorSpec with a
 * KitFaultSet (its call names), a HolderHistory (record() at the instant a change is applied), a
 * ChangeQueue for asynchronous clouds and a RateBudget with its own headers, and start it with
 * startCloudSimulator().
 */
export { startCloudSimulator, callerAddressOf } from './server.js';
export type { CloudSimulatorSpec, SimCall, SimRoute, MetadataCall, AdminAnswer, RequestRecord, RunningCloudSimulator, StartOptions } from './server.js';
export { KitFaultSet, faultsAdmin, parseKitFaultRule, parseKitFaultSpec, seededRandom, KIT_FAULT_KINDS } from './faults.js';
export type { KitFaultRule, ActiveKitFaultRule, FaultCatalog, KitChangeFault, FaultRuleStore } from './faults.js';
export { RateBudget, type RateDecision, type RateBudgetOptions } from './rate-limit.js';
export { ChangeQueue, type Change, type ChangeStatus, type StartChange } from './changes.js';
export { HolderHistory, holderTimeline, type HolderEvent, type HolderInterval, type HolderTimeline } from './history.js';
export { untilStopped } from './until-stopped.js';
export { readBody, sendJson, sendText, parseJsonBody, BodyTooLargeError, MAX_BODY_BYTES } from './respond.js';
