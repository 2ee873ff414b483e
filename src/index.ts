/**
 * ipwarden's public API for plugin authors: the plugin types and the define* helpers, nothing of the
 * engine or the daemon (those may change in any release).
 *   import { defineCheck, type CheckPlugin } from "ipwarden";
 * The building blocks the built-in plugins use are in "ipwarden/kit"; the test helpers in
 * "ipwarden/testing". See docs/writing-a-check-plugin.md.
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
  DiscoverySource,
  DoctorContext,
  DoctorFinding,
  ApiCallSample,
  Logger,
} from './plugins/api.js';
export { defineCheck, defineAction, defineDiscovery } from './plugins/api.js';
