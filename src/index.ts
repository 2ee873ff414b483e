/**
 * ipwarden's public API, for plugin authors and library use:
 *   import type { CheckPlugin } from "ipwarden";
 *   import { defineCheck } from "ipwarden";
 */
export type {
  CheckPlugin,
  CheckContext,
  CheckResult,
  ActionPlugin,
  ActionContext,
  ActionHandlers,
  TransitionEvent,
  PeerDeadEvent,
  InstanceState,
  ConfigIssue,
  ParseResult,
  PluginEnvironment,
  Plugin,
  DiscoveryPlugin,
  DiscoveredPeer,
  DiscoveryContext,
  DoctorFinding,
  ApiCallSample,
} from './plugins/api.js';
export { defineCheck, defineAction, defineDiscovery } from './plugins/api.js';
export { zodConfig } from './plugins/zod-config.js';
export { InstanceEngine, outranks } from './engine/instance.js';
export type { EngineConfig, EngineInput, Effect, EngineSnapshot } from './engine/types.js';
export { effectiveHealth } from './engine/health.js';
export type { DaemonStatus } from './daemon/daemon.js';
export type { Logger } from './log.js';
