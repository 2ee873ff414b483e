/**
 * Lazy dispatch: the command names and where each command lives, so `ipwarden notify` (run by
 * keepalived within its 1 s STOP window) loads only its own module. commands.ts holds the full
 * table for --help and the man page; a test keeps the two in step.
 */
import type { Command } from './command.js';

export const COMMAND_LOADERS: Readonly<Record<string, () => Promise<Command>>> = {
  run: async () => (await import('./commands/run.js')).runCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  maintenance: async () => (await import('./commands/maintenance.js')).maintenanceCommand,
  switchover: async () => (await import('./commands/maintenance.js')).switchoverCommand,
  check: async () => (await import('./commands/check.js')).checkCommand,
  notify: async () => (await import('./commands/notify.js')).notifyCommand,
  'keepalived-fifo': async () => (await import('./commands/keepalived-fifo.js')).keepalivedFifoCommand,
  'config check': async () => (await import('./commands/config.js')).configCheckCommand,
  'config print': async () => (await import('./commands/config.js')).configPrintCommand,
  'config schema': async () => (await import('./commands/config.js')).configSchemaCommand,
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand,
  lab: async () => (await import('./commands/lab.js')).labCommand,
  'eip attach': async () => (await import('./commands/eip.js')).eipAttachCommand,
  'eip detach': async () => (await import('./commands/eip.js')).eipDetachCommand,
  'eip show': async () => (await import('./commands/eip.js')).eipShowCommand,
  exoip: async () => (await import('./commands/exoip.js')).exoipCommand,
  'ip show': async () => (await import('./commands/ip.js')).ipShowCommand,
  'ip attach': async () => (await import('./commands/ip.js')).ipAttachCommand,
  'ip detach': async () => (await import('./commands/ip.js')).ipDetachCommand,
  simulate: async () => (await import('./commands/simulate.js')).simulateCommand,
  'simulate exoscale': async () => (await import('./commands/simulate.js')).simulateExoscaleCommand,
};

/** Longest match of the leading words: "config check --json" -> "config check". */
export function matchCommand(argv: readonly string[], names: readonly string[] = Object.keys(COMMAND_LOADERS)): { name: string; rest: string[] } | undefined {
  let best: { name: string; rest: string[] } | undefined;
  for (const name of names) {
    const words = name.split(' ');
    if (words.every((w, i) => argv[i] === w) && (!best || words.length > best.name.split(' ').length)) best = { name, rest: argv.slice(words.length) };
  }
  return best;
}
