/**
 * The command table: the single source for dispatch, --help and the man page's command list
 * (test/docs checks ipwarden.8 against it).
 */
import type { Command } from './command.js';
import { matchCommand } from './dispatch.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import { configCheckCommand, configPrintCommand, configSchemaCommand } from './commands/config.js';
import { checkCommand } from './commands/check.js';
import { labCommand } from './commands/lab.js';
import { notifyCommand } from './commands/notify.js';
import { keepalivedFifoCommand } from './commands/keepalived-fifo.js';
import { doctorCommand } from './commands/doctor.js';
import { maintenanceCommand, switchoverCommand } from './commands/maintenance.js';
import { eipAttachCommand, eipDetachCommand, eipShowCommand } from './commands/eip.js';
import { simulateCommand, simulateExoscaleCommand } from './commands/simulate.js';
import { ipAttachCommand, ipDetachCommand, ipShowCommand } from './commands/ip.js';
import { exoipCommand } from './commands/exoip.js';

export const COMMANDS: readonly Command[] = [
  runCommand,
  statusCommand,
  maintenanceCommand,
  switchoverCommand,
  checkCommand,
  notifyCommand,
  keepalivedFifoCommand,
  configCheckCommand,
  configPrintCommand,
  configSchemaCommand,
  doctorCommand,
  labCommand,
  eipAttachCommand,
  eipDetachCommand,
  eipShowCommand,
  ipShowCommand,
  ipAttachCommand,
  ipDetachCommand,
  exoipCommand,
  simulateCommand,
  simulateExoscaleCommand,
];

/** Longest match of the leading words: "config check --json" -> config check. */
export function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  const m = matchCommand(argv, COMMANDS.map((c) => c.name));
  return m && { command: COMMANDS.find((c) => c.name === m.name)!, rest: m.rest };
}
