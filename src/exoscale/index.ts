/** Exoscale API v2: client, request signing, errors, metadata (the simulator is in ./simulator/). */
export * from './client.js';
export * from './errors.js';
export * from './signature.js';
export * from './metadata.js';
export * from './types.js';
