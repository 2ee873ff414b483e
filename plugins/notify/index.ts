/**
 * `notify` action: keepalived's notify hooks, called exactly as keepalived 2.2 calls them, so
 * existing keepalived notify scripts and FIFO readers work unchanged with ipwarden's engine.
 *
 *   notify                  run on every state change with 4 arguments appended:
 *                           INSTANCE <instance> MASTER|BACKUP|FAULT|STOP <priority>
 *   notifyMaster            run on MASTER, as configured (nothing appended)
 *   notifyBackup            run on BACKUP
 *   notifyFault             run on FAULT
 *   notifyStop              run on STOP (ipwarden stopping)
 *   notifyMasterRxLowerPri  run when, as MASTER, a peer also claiming MASTER with a lower priority is
 *                           seen (keepalived's notify_master_rx_lower_pri)
 *   fifo                    a FIFO (named pipe) that gets keepalived's line for each change:
 *                           INSTANCE "<instance>" <STATE> <priority>\n (MASTER_RX_LOWER_PRI for the case above)
 *   scriptTimeout           limit for each script run (e.g. "10s"); default: only the action's `timeout`
 *   user                    run the scripts as this user (name or uid; needs ipwarden to run as root)
 *
 * Each script string is split into argv the way keepalived splits it (src/util/argv.ts): no shell,
 * unless the string runs one (`sh -c '...'`). Relative FIFO paths are relative to the config file.
 *
 * Like keepalived, the state's own script is started first and `notify` right after it; they run
 * concurrently, and the FIFO line is written once both are started. Unlike keepalived, ipwarden
 * waits for them: a script exiting non-zero fails the action (it is retried per `retries`, so
 * set `retries: 0` for scripts that must not run twice). Every script runs in its own process
 * group; when it times out, or a newer transition supersedes this one, the whole group gets
 * SIGTERM, then SIGKILL 500 ms later. Processes a script leaves running in the background after
 * it exits are left alone (as with keepalived). Standard input is /dev/null; the environment is
 * ipwarden's own.
 */
import { lstat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { defineAction, type ActionHandlers, type DoctorFinding, type InstanceState, type TransitionEvent } from '../../src/index.js';
import { scriptFindings, zodConfig, ArgvError, splitCommand, formatDuration, zodDuration, lookupUser, runInProcessGroup, type Account, FifoWriter, formatFifoLine, notifyArgs } from '../../src/kit.js';

const SCRIPT_KEYS = ['notify', 'notifyMaster', 'notifyBackup', 'notifyFault', 'notifyStop', 'notifyMasterRxLowerPri'] as const;
type ScriptKey = (typeof SCRIPT_KEYS)[number];

const script = () => z.string().min(1, 'expected a command line');

export const notifySchema = z
  .object({
    notify: script().optional(),
    notifyMaster: script().optional(),
    notifyBackup: script().optional(),
    notifyFault: script().optional(),
    notifyStop: script().optional(),
    notifyMasterRxLowerPri: script().optional(),
    fifo: z.string().min(1, 'expected a path').optional(),
    scriptTimeout: zodDuration(10, 3_600_000).optional(),
    user: z.union([z.string().min(1), z.int().min(0)]).optional(),
  })
  .strict()
  .refine((c) => SCRIPT_KEYS.some((k) => c[k] !== undefined) || c.fifo !== undefined, {
    message: `expected at least one of ${[...SCRIPT_KEYS, 'fifo'].join(', ')}`,
  });

/** A script: as written, and split into argv. */
export interface NotifyScript {
  command: string;
  argv: string[];
}

export interface NotifyConfig {
  scripts: Partial<Record<ScriptKey, NotifyScript>>;
  /** Absolute FIFO path. */
  fifo?: string;
  /** ms */
  scriptTimeoutMs?: number;
  user?: string | number;
}

const parseRaw = zodConfig(notifySchema);

/** The per-state script key for a state ipwarden reports. */
const STATE_SCRIPT: Partial<Record<InstanceState, ScriptKey>> = {
  MASTER: 'notifyMaster',
  BACKUP: 'notifyBackup',
  FAULT: 'notifyFault',
  STOP: 'notifyStop',
};

/** What one transition runs: argv lists in start order, and the FIFO line. Pure, for tests and docs. */
export function notifyPlan(config: NotifyConfig, instance: string, e: { from: InstanceState; to: InstanceState; priority: number }): { runs: { key: ScriptKey; argv: string[] }[]; fifoLine?: string } {
  const runs: { key: ScriptKey; argv: string[] }[] = [];
  if (e.to === 'INIT') return { runs };
  if (e.from === 'MASTER' && e.to === 'MASTER') {
    const s = config.scripts.notifyMasterRxLowerPri;
    if (s) runs.push({ key: 'notifyMasterRxLowerPri', argv: [...s.argv] });
    return { runs, ...(config.fifo ? { fifoLine: formatFifoLine({ name: instance, state: 'MASTER_RX_LOWER_PRI', priority: e.priority }) } : {}) };
  }
  const key = STATE_SCRIPT[e.to];
  const own = key ? config.scripts[key] : undefined;
  if (key && own) runs.push({ key, argv: [...own.argv] });
  const generic = config.scripts.notify;
  if (generic) runs.push({ key: 'notify', argv: [...generic.argv, ...notifyArgs({ name: instance, state: e.to, priority: e.priority })] });
  return { runs, ...(config.fifo ? { fifoLine: formatFifoLine({ name: instance, state: e.to, priority: e.priority }) } : {}) };
}

export default defineAction<NotifyConfig>({
  kind: 'action',
  name: 'notify',
  description: 'keepalived notify hooks: notify/notify_master/... scripts and the notify FIFO line',
  parseConfig(raw, env) {
    const r = parseRaw(raw);
    if (!r.ok) return r;
    const scripts: NotifyConfig['scripts'] = {};
    for (const key of SCRIPT_KEYS) {
      const command = r.config[key];
      if (command === undefined) continue;
      try {
        scripts[key] = { command, argv: splitCommand(command) };
      } catch (err) {
        if (err instanceof ArgvError) return { ok: false, issues: [{ path: [key], message: err.message }] };
        throw err;
      }
    }
    const config: NotifyConfig = { scripts };
    if (r.config.fifo !== undefined) config.fifo = isAbsolute(r.config.fifo) ? r.config.fifo : resolve(env?.baseDir ?? process.cwd(), r.config.fifo);
    if (r.config.scriptTimeout !== undefined) config.scriptTimeoutMs = r.config.scriptTimeout;
    if (r.config.user !== undefined) config.user = r.config.user;
    return { ok: true, config };
  },
  /** `ipwarden doctor`: every script's program is executable and writable by root only; the FIFO path is usable. */
  async doctor({ config }): Promise<DoctorFinding[]> {
    const out: DoctorFinding[] = [];
    const programs = new Set(Object.values(config.scripts).map((s) => s!.argv[0]!));
    for (const program of programs) out.push(...(await scriptFindings(program)));
    if (config.fifo) {
      const item = `notify FIFO ${config.fifo}`;
      try {
        const st = await lstat(config.fifo);
        out.push(st.isFIFO() ? { ok: true, item, detail: 'a FIFO' } : { ok: false, item, detail: 'exists and is not a FIFO', fix: `remove it or choose another fifo: path` });
      } catch {
        try {
          const dir = await lstat(dirname(config.fifo));
          out.push(dir.isDirectory() ? { ok: true, item, detail: 'missing: created at the first state change' } : { ok: false, item, detail: `${dirname(config.fifo)} is not a directory`, fix: 'choose another fifo: path' });
        } catch {
          out.push({ ok: false, item, detail: `directory ${dirname(config.fifo)} does not exist`, fix: `create it (e.g. RuntimeDirectory= in the unit)` });
        }
      }
    }
    return out;
  },
  create({ config, instance, log }): ActionHandlers {
    const fifo = config.fifo ? new FifoWriter(config.fifo) : undefined;
    let account: Promise<Account> | undefined;
    const runAs = async (): Promise<Account | undefined> => {
      if (config.user === undefined) return undefined;
      if (process.getuid?.() !== 0) throw new Error(`cannot run scripts as user ${config.user}: ipwarden is not running as root`);
      account ??= lookupUser(config.user);
      try {
        return await account;
      } catch (err) {
        account = undefined;
        throw new Error(`cannot run scripts as user ${config.user}: ${(err as Error).message}`);
      }
    };

    const handle = async (e: TransitionEvent): Promise<void> => {
      const plan = notifyPlan(config, instance.name, e);
      const who = await runAs();
      const signal = config.scriptTimeoutMs !== undefined ? AbortSignal.any([e.signal, AbortSignal.timeout(config.scriptTimeoutMs)]) : e.signal;
      const runs = plan.runs.map(async ({ key, argv }) => {
        const r = await runInProcessGroup(argv, { signal, ...(who ? { account: who } : {}) });
        const scriptTimedOut = r.killedFor !== undefined && !e.signal.aborted;
        const detail = scriptTimedOut ? `${r.detail} after scriptTimeout ${formatDuration(config.scriptTimeoutMs ?? 0)}` : r.detail;
        if (r.ok) log.info({ script: key, argv }, `${key}: ${detail}`);
        else log.warn({ script: key, argv }, `${key}: ${detail}`);
        return { key, ok: r.ok, detail };
      });
      const problems: string[] = [];
      if (fifo && plan.fifoLine) {
        try {
          await fifo.write(plan.fifoLine);
          log.debug({ fifo: fifo.path, line: plan.fifoLine.trimEnd() }, 'notify FIFO line written');
        } catch (err) {
          problems.push((err as Error).message);
        }
      }
      for (const r of await Promise.all(runs)) if (!r.ok) problems.push(`${r.key}: ${r.detail}`);
      if (problems.length) throw new Error(problems.join('; '));
    };
    return {
      onMaster: handle,
      onBackup: handle,
      onFault: handle,
      onStop: handle,
      async close() {
        await fifo?.close();
      },
    };
  },
});
