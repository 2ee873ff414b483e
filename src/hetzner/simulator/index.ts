/** The Hetzner Cloud API simulator: library entry points (see server.ts for the API subset and admin routes). */
export { startHetznerSimulator, HETZNER_SIM_CALLS, HETZNER_SIM_MUTATING, type HetznerSimulatorOptions, type RunningHetznerSimulator } from './server.js';
export { runHetznerSimulatorCli, parseHetznerSimulatorArgs, hetznerSimulatorHelp, HETZNER_SIMULATOR_FLAGS, DEFAULT_HETZNER_SIM_PORT, type HetznerSimulatorCliIO } from './cli.js';
export {
  HetznerWorld,
  defaultHetznerSeed,
  parseHetznerSeed,
  DEFAULT_SIM_TOKEN,
  DEFAULT_SIM_READONLY_TOKEN,
  LAB_FLOATING_IP,
  LAB_FLOATING_IP_ID,
  LAB_NETWORK_ID,
  type HetznerSimSeed,
  type TokenScope,
} from './world.js';
