/** Fencing tokens: shared by every cloud action (src/cloud/fencing.ts); re-exported for the exoscale-eip API. */
export { FencingGuard } from '../../src/kit.js';
