/** The DigitalOcean API v2 simulator (see server.ts for what it serves). */
export { startDigitalOceanSimulator, DO_SIM_CALLS, DO_SIM_MUTATING } from './server.js';
export type { DigitalOceanSimulatorOptions, RunningDigitalOceanSimulator, DigitalOceanSimEvent, ActionRecord } from './server.js';
export { World, defaultSeed, DEFAULT_SIM_TOKEN, DEFAULT_SIM_READONLY_TOKEN, DEFAULT_SIM_REGION, LAB_RESERVED_IP, isIpv4 } from './world.js';
export type { SimDroplet, SimReservedIp, SimSeed, DropletInput, ReservedIpInput } from './world.js';
export { runDigitalOceanSimulatorCli, parseDoSimulatorArgs, doSimulatorHelp, DO_SIMULATOR_FLAGS, DEFAULT_DO_SIM_PORT, type DoSimulatorCliIO } from './cli.js';
