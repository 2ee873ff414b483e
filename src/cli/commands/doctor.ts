/**
 * `ipwarden doctor`: checks what silently breaks failover tools in practice, one line per item
 * with a fix. Exit 0 when everything is OK, 1 otherwise.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Command, CommandContext } from '../command.js';
import { EXIT } from '../command.js';
import { loadRuntime } from '../runtime.js';
import { controlRequest } from '../../daemon/control.js';
import type { DaemonStatus } from '../../daemon/daemon.js';
import { CheckRunner } from '../../plugins/check-runner.js';
import { silentLogger } from '../../log.js';
import type { DoctorContext, DoctorFinding, Plugin } from '../../plugins/api.js';
import type { ResolvedConfig } from '../../config/resolve.js';
import { formatEndpoint } from '../../config/endpoint.js';

/** A plugin's doctor hook (an API read, a file check) gets this long before its signal aborts. */
const PLUGIN_DOCTOR_TIMEOUT_MS = 30_000;

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check what silently breaks failover: config, secrets, port, peers, checks, scripts, ip, API credentials',
  usage: '[--config FILE]',
  details: `Prints one line per item (OK or FAIL, with a fix). With the daemon running it also reads its
status: peers heard, heartbeats rejected (a secret mismatch shows as bad-tag), peers' intervals.`,
  flags: { config: { type: 'string', short: 'c', arg: 'FILE', description: 'rc file (default: search, see ipwarden.rc(5))' } },
  run: doctor,
};

async function doctor(ctx: CommandContext): Promise<number> {
  const findings: DoctorFinding[] = [];
  const say = (f: DoctorFinding) => {
    findings.push(f);
    ctx.stdout.write(`${f.ok ? 'OK  ' : 'FAIL'}  ${f.item}: ${f.detail}${!f.ok && f.fix ? `\n      fix: ${f.fix}` : ''}\n`);
  };
  let resolved: ResolvedConfig;
  try {
    ({ resolved } = await loadRuntime({ ...(ctx.values.config ? { file: String(ctx.values.config) } : {}), env: ctx.env }));
    say({ ok: true, item: 'config', detail: `${resolved.file} valid, secrets readable, plugins loaded` });
  } catch (err) {
    say({ ok: false, item: 'config', detail: (err as Error).message.replace(/\n\s*/g, '; '), fix: 'ipwarden config check shows every problem' });
    return EXIT.FAILURE;
  }
  for (const w of resolved.warnings) say({ ok: false, item: 'config warning', detail: w });

  const status = (await controlRequest(resolved.node.control, { cmd: 'status' }, 2000).catch(() => undefined)) as DaemonStatus | undefined;
  if (status) {
    say({ ok: true, item: 'daemon', detail: `running (pid ${status.node.pid}) on ${status.node.bind}` });
    daemonFindings(status, resolved).forEach(say);
  } else {
    say(await portFree(resolved));
  }

  for (const inst of resolved.instances) {
    if (inst.checks.length) {
      const runner = new CheckRunner(inst.checks, { log: silentLogger });
      for (const c of await runner.runOnce()) {
        say({ ok: !!c.lastResult?.ok, item: `check ${inst.name}/${c.name}`, detail: c.lastResult?.detail ?? 'no result', fix: 'ipwarden check shows the check alone' });
      }
      await runner.stop();
    }
    // every plugin kind's doctor hook gets the same context: its config, where it runs, a time limit
    const hooks = [
      ...inst.checks.map((c) => ({ label: c.name, impl: c.impl as { doctor?: Plugin['doctor'] }, config: c.config })),
      ...inst.actions.map((a) => ({ label: a.name, impl: a.impl as { doctor?: Plugin['doctor'] }, config: a.config })),
      ...(inst.discovery ? [{ label: `discovery ${inst.discovery.plugin}`, impl: inst.discovery.impl as { doctor?: Plugin['doctor'] }, config: inst.discovery.config }] : []),
    ];
    for (const h of hooks) {
      const dctx: DoctorContext<unknown> = {
        config: h.config,
        log: silentLogger,
        instance: { name: inst.name, address: inst.address },
        node: { id: resolved.node.id },
        signal: AbortSignal.timeout(PLUGIN_DOCTOR_TIMEOUT_MS),
      };
      let found: DoctorFinding[];
      try {
        found = (await h.impl.doctor?.(dctx)) ?? [];
      } catch (err) {
        found = [{ ok: false, item: 'doctor', detail: `failed: ${(err as Error).message ?? String(err)}` }];
      }
      for (const f of found) say({ ...f, item: `${inst.name}/${h.label}: ${f.item}` });
    }
  }
  if (resolved.instances.some((i) => i.actions.some((a) => a.plugin === 'ip-alias'))) say(await ipUsable());
  // a DigitalOcean reserved IP arrives on the droplet's anchor IP (the action's doctor checks it): an alias is a mistake
  for (const inst of resolved.instances.filter((i) => i.actions.some((a) => a.plugin === 'digitalocean-reserved-ip') && i.actions.some((a) => a.plugin === 'ip-alias'))) {
    say({ ok: false, item: `${inst.name}: ip-alias`, detail: `${inst.address} is a DigitalOcean reserved IP: its traffic arrives on the anchor IP, a local alias is not needed`, fix: 'remove the ip-alias action; services listen on the anchor IP or 0.0.0.0' });
  }

  const failed = findings.filter((f) => !f.ok).length;
  ctx.stdout.write(failed ? `${failed} problem(s) found\n` : 'everything looks right\n');
  return failed ? EXIT.FAILURE : EXIT.OK;
}

function daemonFindings(s: DaemonStatus, r: ResolvedConfig): DoctorFinding[] {
  const out: DoctorFinding[] = [];
  const badTag = s.counters.rejected['bad-tag'] ?? 0;
  const unknownKey = s.counters.rejected['unknown-key-id'] ?? 0;
  if (badTag || unknownKey) {
    out.push({ ok: false, item: 'heartbeat secret', detail: `${badTag + unknownKey} heartbeats failed authentication`, fix: 'every node needs the same secret (and key ids during a rotation)' });
  }
  const stale = s.counters.rejected['stale-timestamp'] ?? 0;
  if (stale) out.push({ ok: false, item: 'clocks', detail: `${stale} heartbeats outside the clockSkew window`, fix: 'run NTP (chrony, systemd-timesyncd) on every node' });
  const unknownPeer = s.counters.rejected['unknown-peer'] ?? 0;
  if (unknownPeer) out.push({ ok: false, item: 'peers', detail: `${unknownPeer} heartbeats from addresses not listed in peers`, fix: 'list every node\'s heartbeat source address in peers' });
  for (const i of s.instances) {
    const inst = r.instances.find((x) => x.name === i.instance);
    const configured = inst?.peers.length ?? 0;
    const alive = i.peers.filter((p) => p.alive);
    out.push({
      ok: alive.length >= configured,
      item: `instance ${i.instance} peers`,
      detail: `${alive.length} of ${configured} configured peers heard (${i.peers.map((p) => `${p.id}@${p.address} ${p.alive ? p.state : 'DEAD'}`).join(', ') || 'none'})`,
      fix: `let UDP ${s.node.bind.split(':').pop()} (and ICMP unreachable) pass between the nodes; check the peers' daemons`,
    });
    for (const p of i.peers) {
      if (p.intervalMs && p.intervalMs !== i.intervalMs) {
        out.push({ ok: false, item: `instance ${i.instance} timers`, detail: `peer ${p.id} advertises every ${p.intervalMs} ms, this node every ${i.intervalMs} ms`, fix: 'use the same interval on every node' });
      }
    }
  }
  return out;
}

async function portFree(r: ResolvedConfig): Promise<DoctorFinding> {
  const sock = dgram.createSocket(r.node.bind.host.includes(':') ? 'udp6' : 'udp4');
  const where = formatEndpoint(r.node.bind);
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: r.node.bind.host, port: r.node.bind.port, exclusive: true }, () => resolve());
    });
    return { ok: true, item: 'heartbeat port', detail: `${where} is free (the daemon is not running)` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, item: 'heartbeat port', detail: `${where}: ${code}`, fix: code === 'EADDRINUSE' ? 'another process (exoip? an old ipwarden?) holds it: ss -ulpn' : 'node.bind must be an address of this host' };
  } finally {
    try {
      sock.close();
    } catch {
      /* not bound */
    }
  }
}

/** ip-alias needs `ip` and CAP_NET_ADMIN. */
async function ipUsable(): Promise<DoctorFinding> {
  try {
    await promisify(execFile)('ip', ['-o', 'addr', 'show', 'dev', 'lo'], { timeout: 5000 });
  } catch (err) {
    return { ok: false, item: 'ip', detail: (err as Error).message.split('\n')[0]!, fix: 'install iproute2' };
  }
  let capEff = 0n;
  try {
    const m = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'));
    capEff = m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    /* not Linux */
  }
  const netAdmin = (capEff >> 12n) & 1n;
  return netAdmin
    ? { ok: true, item: 'ip', detail: 'iproute2 present, CAP_NET_ADMIN held' }
    : { ok: false, item: 'ip', detail: 'no CAP_NET_ADMIN: ip-alias cannot add addresses', fix: 'run as root or with AmbientCapabilities=CAP_NET_ADMIN (contrib/systemd/ipwarden.service)' };
}
