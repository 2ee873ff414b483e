/**
 * "ipwarden/kit": the building blocks the built-in plugins are made of, for any plugin.
 *   import { parseDuration, runCommand, schemaConfig } from "ipwarden/kit";
 * Each is the project's one way to do its thing: the one duration grammar, the one command splitter
 * and subprocess runner, the one address normaliser and endpoint formatter, the one deadline and
 * retry helpers, the one cloud HTTP layer and floating-IP controller.
 */

// config: a parseConfig from any Standard Schema validator (zod, valibot, arktype), or ipwarden's zod
export { schemaConfig, zodConfig, zodDuration } from './plugins/zod-config.js';
export type { StandardSchemaV1, StandardOutput } from './plugins/zod-config.js';

// durations: "250ms", "1s", "1.5s", "2m", "1h"
export { parseDuration, requireDuration, formatDuration, durationText, DURATION_PATTERN } from './util/duration.js';

// commands: keepalived's argv splitting, the one subprocess runner (process groups), script safety
export { splitCommand, ArgvError } from './util/argv.js';
export { runCommand, runInProcessGroup, startStandby, lookupUser, killGroup, abortText, KILL_GRACE_MS } from './util/process-group.js';
export type { Account, CommandOptions, CommandResult, GroupRunOptions, GroupRunResult, StandbyCommand } from './util/process-group.js';
export { scriptFindings } from './util/script-safety.js';

// addresses and endpoints
export { canonicalAddress, formatEndpoint, parseEndpoint, isWildcard } from './config/endpoint.js';
export type { Endpoint } from './config/endpoint.js';

// time limits and retries
export { withDeadline } from './util/deadline.js';
export type { DeadlineOptions } from './util/deadline.js';
export { retry } from './util/retry.js';
export type { RetryOptions } from './util/retry.js';

// keepalived's notify conventions (argv of a notify script, a FIFO line)
export { notifyArgs, formatFifoLine } from './keepalived/protocol.js';
export type { NotifyState } from './keepalived/protocol.js';
export { FifoWriter } from './keepalived/fifo.js';

// the cloud layer: HTTP (keep-alive, timeouts, retries, redaction), the provider contract, the
// floating-IP controller and its action handlers, the shared config keys
export { CloudHttpClient, FAILOVER_FIRST_TIMEOUT_MS, redactSecrets, retryAfterFromHeaders, defaultClassify } from './cloud/http.js';
export type { CloudHttpOptions, CloudRequest, OutgoingRequest, RetryPolicy, HttpResponse } from './cloud/http.js';
export { CloudApiError, isApiUnreachable } from './cloud/provider.js';
export type { FloatingIpProvider, HolderMode, CallOptions, CloudErrorKind, CloudApiErrorDetails } from './cloud/provider.js';
export { pollUntilDone } from './cloud/poll.js';
export type { PollResult, PollOptions } from './cloud/poll.js';
export { FloatingIpController, CloudVerifyError, isUnreachable, desiredFor, reconcilesIn } from './cloud/controller.js';
export type { FloatingIpControllerSettings, ControllerStats, PassResult, Desired, Strategy, OnApiUnreachable } from './cloud/controller.js';
export { floatingIpHandlers } from './cloud/action.js';
export { FencingGuard } from './cloud/fencing.js';
export { controllerKeysShape, httpUrlKey, singleHolderStrategy } from './cloud/action-config.js';
