/** The Exoscale API v2 simulator: library entry points (see SIMULATOR.md). */
export { startSimulator, ZONES, type RunningSimulator, type SimulatorOptions } from './server.js';
export { runSimulatorCli, parseSimulatorArgs, simulatorHelp, SIMULATOR_FLAGS, DEFAULT_SIM_PORT, type SimulatorCliIO } from './cli.js';
export {
  SimulatorState,
  DUPLICATE_MODES,
  type DuplicateMode,
  type SimConfig,
  type SimEvent,
  type SimEventType,
  type SimInstance,
  type SimElasticIp,
  type SimSecurityGroup,
  type SimRequestRecord,
} from './state.js';
export { FaultSet, parseFaultRule, parseFaultSpec, FAULT_KINDS, SIM_CALLS, type FaultRule, type FaultRuleInput, type FaultKind, EXOSCALE_FAULT_CATALOG } from './faults.js';
export { holderHistory, type HolderHistory, type HolderInterval } from './history.js';
export {
  defaultSeed,
  DEFAULT_SIM_API_KEY,
  DEFAULT_SIM_API_SECRET,
  DEFAULT_SIM_ZONE,
  LAB_ELASTIC_IP_ID,
  LAB_SECURITY_GROUP_ID,
  type SimSeed,
  type InstanceInput,
  type ElasticIpInput,
  type SecurityGroupInput,
} from './seed.js';
export { parseSeed } from './schemas.js';
