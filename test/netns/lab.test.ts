import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { requireEnv } from '../lib/env.js';
import { createLab, listLinks, listNamespaces, sweepStaleLabs, type Lab, type HostRef } from '../lib/netns.js';

const skip = requireEnv({ netns: true, bins: ['nft'] });

/** UDP echo/count server inside a host: prints its port; on each stdin line prints how many datagrams it got. */
const SERVER = (addr: string) => `
const s = require('node:dgram').createSocket('udp4');
let n = 0;
s.on('message', (m, r) => { n++; if (m.toString() === 'ping') s.send('pong', r.port, r.address); });
s.bind(0, ${JSON.stringify(addr)}, () => process.stdout.write('port ' + s.address().port + '\\n'));
require('node:readline').createInterface({ input: process.stdin }).on('line', () => process.stdout.write('count ' + n + '\\n'));
process.stdin.on('end', () => process.exit(0));
`;

/** Pings addr:port every 100 ms until a reply ("reply") or the deadline ("timeout"). */
const PING = (addr: string, port: number, ms: number) => `
const s = require('node:dgram').createSocket('udp4');
s.on('error', () => {});
const deadline = Date.now() + ${ms};
s.on('message', () => { console.log('reply'); process.exit(0); });
const tick = () => {
  if (Date.now() > deadline) { console.log('timeout'); process.exit(0); }
  s.send('ping', ${port}, ${JSON.stringify(addr)}, () => {});
  setTimeout(tick, 100);
};
tick();
`;

/** Sends n datagrams at a bounded rate (10 every 10 ms, ~1000/s), then exits once all sends completed. */
const BLAST = (addr: string, port: number, n: number) => `
const s = require('node:dgram').createSocket('udp4');
let sent = 0, done = 0;
const step = () => {
  for (let i = 0; i < 10 && sent < ${n}; i++, sent++) s.send('x', ${port}, ${JSON.stringify(addr)}, () => { if (++done === ${n}) process.exit(0); });
  if (sent < ${n}) setTimeout(step, 10);
};
step();
`;

interface Server {
  port: number;
  count(): Promise<number>;
}

async function startServer(t: Test, lab: Lab, host: HostRef): Promise<Server> {
  const h = lab.host(host);
  const child = lab.spawn(h, ['node', '-e', SERVER(h.address)], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (prefix: string): Promise<string> => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    try {
      const { value, done } = await lines.next();
      if (done || !String(value).startsWith(prefix)) throw new Error(`server in ${h.name}: expected "${prefix}…", got ${String(value)}`);
      return String(value).slice(prefix.length);
    } finally {
      clearTimeout(timer);
    }
  };
  const port = Number(await next('port '));
  return {
    port,
    count: async () => {
      child.stdin!.write('?\n');
      return Number(await next('count '));
    },
  };
}

async function ping(lab: Lab, from: HostRef, addr: string, port: number, ms: number): Promise<string> {
  const { stdout } = await lab.exec(from, ['node', '-e', PING(addr, port, ms)], { timeoutMs: ms + 10_000 });
  return stdout.trim();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function leftovers(names: string[]): Promise<string[]> {
  const present = new Set([...(await listNamespaces()), ...(await listLinks())]);
  return names.filter((n) => present.has(n));
}

function isGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

t.test('lab of three hosts', { skip }, async (t) => {
  const lab = await createLab({ hosts: 3, bridgeAddress: true });
  t.teardown(() => lab.destroy());

  t.test('names and addresses', async (t) => {
    t.same(
      lab.hosts.map((h) => h.address),
      ['198.51.100.10', '198.51.100.11', '198.51.100.12'],
    );
    t.equal(lab.bridgeAddress, '198.51.100.1');
    t.equal(lab.subnet, '198.51.100.0/24');
    for (const h of lab.hosts) {
      t.match(h.ns, new RegExp(`^ipw${process.pid}[a-z]h${h.index}$`));
      t.ok(h.rootVeth.length <= 15 && lab.bridge.length <= 15, 'interface names fit IFNAMSIZ');
    }
    t.equal(lab.host('h1'), lab.hosts[1]);
    t.equal(lab.host(2), lab.hosts[2]);
    t.equal(lab.host(lab.hosts[0]!.ns), lab.hosts[0]);
    t.throws(() => lab.host('h9'), /no host h9/);
    const { stdout } = await lab.exec('h1', ['ip', '-o', '-4', 'addr', 'show', 'dev', 'e0']);
    t.match(stdout, /inet 198\.51\.100\.11\/24/, 'e0 carries the host address');
    const lo = await lab.exec('h1', ['ip', '-o', 'link', 'show', 'dev', 'lo']);
    t.match(lo.stdout, /UP/, 'lo is up');
  });

  t.test('UDP round trips between namespaces and to the bridge address', async (t) => {
    const server = await startServer(t, lab, 'h1');
    t.equal(await ping(lab, 'h0', '198.51.100.11', server.port, 3000), 'reply', 'h0 -> h1');
    t.equal(await ping(lab, 'h2', '198.51.100.11', server.port, 3000), 'reply', 'h2 -> h1');

    const root = createSocket('udp4');
    t.teardown(() => root.close());
    root.on('message', (m, r) => root.send(m, r.port, r.address));
    root.bind(0, lab.bridgeAddress);
    await once(root, 'listening');
    t.equal(await ping(lab, 'h0', '198.51.100.1', root.address().port, 3000), 'reply', 'h0 -> root-namespace helper');
  });

  t.test('cut isolates a host, heal restores it', async (t) => {
    const server = await startServer(t, lab, 'h1');
    await lab.cut('h1');
    t.equal(await ping(lab, 'h0', '198.51.100.11', server.port, 800), 'timeout', 'h0 cannot reach the cut h1');
    const other = await startServer(t, lab, 'h2');
    t.equal(await ping(lab, 'h0', '198.51.100.12', other.port, 3000), 'reply', 'the rest of the lab still talks');
    t.equal(await ping(lab, 'h1', '198.51.100.12', other.port, 800), 'timeout', 'the cut h1 cannot reach out either');
    await lab.heal('h1');
    t.equal(await ping(lab, 'h0', '198.51.100.11', server.port, 5000), 'reply', 'healed');
  });

  t.test('setLoss drops about that share of UDP input', async (t) => {
    const server = await startServer(t, lab, 'h1');
    const blast = async (n: number): Promise<number> => {
      const before = await server.count();
      await lab.exec('h0', ['node', '-e', BLAST('198.51.100.11', server.port, n)], { timeoutMs: 20_000 });
      await sleep(300);
      return (await server.count()) - before;
    };

    await lab.setLoss('h1', 20);
    const rules = await lab.exec('h1', ['nft', 'list', 'ruleset']);
    t.match(rules.stdout, /numgen random mod 10000 < 2000/, 'rule installed in the namespace');
    const got = await blast(500);
    const lossPct = ((500 - got) / 500) * 100;
    t.ok(lossPct >= 10 && lossPct <= 30, `20% setting lost ${lossPct.toFixed(1)}% of 500 datagrams`);

    await lab.setLoss('h1', 100);
    t.equal(await blast(50), 0, '100% drops everything');

    await lab.setLoss('h1', 0);
    t.equal(await blast(200), 200, 'loss 0 removes the rule');
    t.notMatch((await lab.exec('h1', ['nft', 'list', 'ruleset'])).stdout, /ipwlab/, 'table gone');
    await lab.setLoss('h1', 0); // removing twice is fine

    await t.rejects(lab.setLoss('h1', 101), /setLoss percent: expected 0\.\.100/);
    await t.rejects(lab.setLoss('h1', -1), /setLoss percent/);
    await t.rejects(lab.setLoss('h1', NaN), /setLoss percent/);
  });
});

t.test('destroy removes every namespace, link and process, and is idempotent', { skip }, async (t) => {
  const lab = await createLab({ hosts: 2, subnet: '203.0.113.0/24' });
  t.teardown(() => lab.destroy());
  t.same(lab.hosts.map((h) => h.address), ['203.0.113.10', '203.0.113.11']);
  t.equal(lab.bridgeAddress, undefined);
  const server = await startServer(t, lab, 'h1');
  t.equal(await ping(lab, 'h0', '203.0.113.11', server.port, 3000), 'reply', 'the 203.0.113.0/24 lab works');

  const names = [...lab.hosts.map((h) => h.ns), ...lab.hosts.map((h) => h.rootVeth), lab.bridge];
  t.same(await leftovers(names), names, 'everything exists before destroy');
  const sleeper = lab.spawn('h0', ['sleep', '600'], { stdio: 'ignore' });
  await once(sleeper, 'spawn');
  // A process started with exec in the background, unknown to the lab object, also dies.
  await lab.exec('h1', ['sh', '-c', 'sleep 600 >/dev/null 2>&1 &']);
  const background = (await lab.exec('h1', ['sh', '-c', 'ip netns pids "$(ip netns identify $$)"'])).stdout;
  t.ok(background.trim().length > 0, 'a background process runs in h1');

  const first = lab.destroy();
  t.equal(lab.destroy(), first, 'concurrent destroy() shares one teardown');
  await first;
  await lab.destroy();
  t.same(await leftovers(names), [], 'no namespace or link left');
  t.ok(sleeper.exitCode !== null || sleeper.signalCode !== null, 'spawned process was killed');
  for (const pid of background.split(/\s+/).filter(Boolean).map(Number)) t.ok(isGone(pid), `background pid ${pid} killed`);
  t.throws(() => lab.exec('h0', ['true']), /after destroy/);
  t.throws(() => lab.spawn('h0', ['true']), /after destroy/);
});

t.test('createLab validates its options', { skip }, async (t) => {
  await t.rejects(createLab({ hosts: 0 }), /createLab hosts: expected an integer 1\.\.90/);
  await t.rejects(createLab({ hosts: 91 }), /createLab hosts/);
  await t.rejects(createLab({ hosts: 1, subnet: '10.0.0.0/24' }), /createLab subnet: expected one of 198\.51\.100\.0\/24, 203\.0\.113\.0\/24/);
});

t.test('a failed build leaves nothing behind', { skip }, async (t) => {
  // Occupy the name the next lab's second namespace will want, so the build fails half-way.
  const probe = await createLab({ hosts: 1 });
  const letter = probe.bridge.slice(`ipw${process.pid}`.length, -2);
  await probe.destroy();
  const nextLetter = String.fromCharCode(letter.charCodeAt(0) + 1);
  const blocker = `ipw${process.pid}${nextLetter}h1`;
  execFileSync('ip', ['netns', 'add', blocker]);
  t.teardown(() => {
    try {
      execFileSync('ip', ['netns', 'del', blocker]);
    } catch {
      // already gone
    }
  });
  await t.rejects(createLab({ hosts: 2 }), /netns add/);
  const tag = `ipw${process.pid}${nextLetter}`;
  t.same(await leftovers([`${tag}br`, `${tag}h0`, `${tag}v0`, `${tag}v1`]), [], 'the half-built lab was removed');
  t.same(await leftovers([blocker]), [blocker], 'what it did not create was left alone');
});

const FIXTURE = fileURLToPath(new URL('./fixtures/lab-child.ts', import.meta.url));
const TS_LOADER = process.execArgv.filter((a) => a.includes('typescript'));

for (const mode of ['signal', 'exit', 'throw'] as const) {
  t.test(`a process that ends by ${mode} without destroy() leaves nothing behind`, { skip }, async (t) => {
    const child = spawn(process.execPath, [...TS_LOADER, FIXTURE, mode], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.teardown(() => {
      child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = once(child, 'exit');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const line = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next();
    clearTimeout(timer);
    t.ok(line.value, `fixture reported its lab ${stderr}`);
    const info = JSON.parse(String(line.value)) as { namespaces: string[]; links: string[]; sleeper: number };
    t.same(await leftovers([...info.namespaces, ...info.links]), [...info.namespaces, ...info.links], 'lab exists');
    if (mode === 'signal') child.kill('SIGTERM');
    else child.stdin.write('go\n');
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    if (mode === 'signal') t.equal(signal, 'SIGTERM', 'the signal still ends the process');
    if (mode === 'exit') t.equal(code, 3, 'the exit code is kept');
    if (mode === 'throw') t.equal(code, 1, 'uncaught error exit code');
    t.same(await leftovers([...info.namespaces, ...info.links]), [], 'namespaces and links removed');
    let gone = false;
    for (let i = 0; i < 20 && !gone; i++) {
      gone = isGone(info.sleeper);
      if (!gone) await sleep(100);
    }
    t.ok(gone, 'the process spawned in the lab was killed');
  });
}

t.test('sweepStaleLabs removes what a SIGKILLed process left', { skip }, async (t) => {
  const dead = spawn('true');
  await once(dead, 'exit');
  const pid = dead.pid!;
  const names = { ns: `ipw${pid}ah0`, bridge: `ipw${pid}abr` };
  execFileSync('ip', ['netns', 'add', names.ns]);
  execFileSync('ip', ['link', 'add', names.bridge, 'type', 'bridge']);
  t.teardown(() => {
    for (const argv of [['netns', 'del', names.ns], ['link', 'del', names.bridge]]) {
      try {
        execFileSync('ip', argv, { stdio: 'ignore' });
      } catch {
        // removed by the sweep
      }
    }
  });
  const live = await createLab({ hosts: 1 });
  t.teardown(() => live.destroy());
  const removed = await sweepStaleLabs({ only: [pid, process.pid] });
  t.same(removed.sort(), [names.bridge, names.ns].sort());
  t.same(await leftovers([names.ns, names.bridge]), []);
  t.same(await leftovers([live.hosts[0]!.ns, live.bridge]), [live.hosts[0]!.ns, live.bridge], "own live lab untouched");
});
