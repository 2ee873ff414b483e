/**
 * A real etcd cluster (Debian's etcd-server binary) on loopback for the etcd election tests:
 * N members with their own data dirs (in /dev/shm when there is one: etcd fsyncs every write, and
 * a busy shared disk would stall it for seconds) and free client/peer ports, etcd's default raft
 * timers (heartbeat 100 ms, election 1 s: shorter ones make a loaded machine elect spuriously),
 * optional TLS and user/password auth. Members can be stopped and restarted (same data dir).
 * destroy() kills everything and removes the files.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** etcd's raft timers in these tests (its defaults). */
export const ETCD_HEARTBEAT_MS = 100;
export const ETCD_ELECTION_TIMEOUT_MS = 1000;

export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  process?: ChildProcess;
}

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Another CA (did not sign the server certificate). */
  otherCa: string;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A CA, a server certificate for 127.0.0.1, a client certificate (CN ipwarden), and an unrelated CA. */
export async function makeTestPki(dir: string): Promise<TestPki> {
  mkdirSync(dir, { recursive: true });
  const p = (f: string) => join(dir, f);
  const ossl = (args: string[]) => run('openssl', args, { cwd: dir });
  for (const ca of ['ca', 'other-ca']) {
    await ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=ipwarden test ${ca}`]);
  }
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  writeFileSync(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [['server', 'etcd'], ['client', 'ipwarden']] as const) {
    await ossl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    await ossl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  }
  return { dir, ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key'), otherCa: p('other-ca.pem') };
}

export interface EtcdClusterOptions {
  members: number;
  /** Serve clients over https with this PKI (and require client certificates). */
  pki?: TestPki;
}

export class EtcdCluster {
  readonly dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ipwarden-etcd-'));
  readonly members: EtcdMember[] = [];

  constructor(readonly opts: EtcdClusterOptions) {}

  private get scheme(): string {
    return this.opts.pki ? 'https' : 'http';
  }

  /** Client URLs of all members. */
  clientUrls(): string[] {
    return this.members.map((m) => `${this.scheme}://127.0.0.1:${m.clientPort}`);
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.opts.members; i++) {
      const name = `m${i + 1}`;
      this.members.push({
        name,
        clientPort: await freeTcpPort(),
        peerPort: await freeTcpPort(),
        dataDir: join(this.dir, name),
        logFile: join(this.dir, `${name}.log`),
      });
    }
    for (const m of this.members) this.spawnMember(m);
    await this.waitHealthy(this.members, 20_000);
  }

  private spawnMember(m: EtcdMember): void {
    const initial = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
    const url = `${this.scheme}://127.0.0.1:${m.clientPort}`;
    const tls = this.opts.pki
      ? ['--cert-file', this.opts.pki.serverCert, '--key-file', this.opts.pki.serverKey, '--trusted-ca-file', this.opts.pki.ca, '--client-cert-auth']
      : [];
    const args = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initial,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `ipwarden-test-${process.pid}`,
      '--heartbeat-interval', String(ETCD_HEARTBEAT_MS),
      '--election-timeout', String(ETCD_ELECTION_TIMEOUT_MS),
      // etcd 3.5's default (3.4 ships with it off): a member that was cut off or restarted does not
      // force a new leader election with its inflated term when it returns, which stalled lease
      // renewals past the step-down deadline right after quorum came back (test/etcd/etcd-loss)
      '--pre-vote',
      '--logger', 'zap',
      '--log-level', 'warn',
      ...tls,
    ];
    const fd = openSync(m.logFile, 'a');
    m.process = spawn('etcd', args, { stdio: ['ignore', fd, fd], env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/usr/bin` } });
    closeSync(fd);
  }

  /** etcdctl against the given members (default all); root credentials when auth is on. */
  async etcdctl(args: string[], opts: { members?: EtcdMember[]; user?: string } = {}): Promise<string> {
    const endpoints = (opts.members ?? this.members).map((m) => `${this.scheme}://127.0.0.1:${m.clientPort}`).join(',');
    const tls = this.opts.pki ? ['--cacert', this.opts.pki.ca, '--cert', this.opts.pki.clientCert, '--key', this.opts.pki.clientKey] : [];
    const user = opts.user ? ['--user', opts.user] : [];
    const { stdout } = await run('etcdctl', ['--endpoints', endpoints, '--dial-timeout', '1s', '--command-timeout', '2s', ...tls, ...user, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    return stdout;
  }

  private async waitHealthy(members: EtcdMember[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const m of members) if (m.process?.exitCode !== null && m.process?.exitCode !== undefined) throw new Error(`etcd ${m.name} exited (${m.process.exitCode}); log ${m.logFile}`);
      try {
        await this.etcdctl(['endpoint', 'health'], { members });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`etcd not healthy within ${timeoutMs} ms: ${(err as Error).message.split('\n')[0]}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Stops a member (SIGTERM by default) and waits for its exit. */
  async stop(m: EtcdMember, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = m.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await gone;
    m.process = undefined;
  }

  /** Restarts stopped members from their data dirs; resolves when the cluster answers again. */
  async restart(members: EtcdMember[]): Promise<void> {
    for (const m of members) if (!m.process) this.spawnMember(m);
    await this.waitHealthy(this.members.filter((m) => m.process), 20_000);
  }

  /** Users: root (password "rootpw") and `user` with readwrite on `prefix`; then auth on. */
  async enableAuth(user: string, password: string, prefix: string): Promise<void> {
    await this.etcdctl(['user', 'add', 'root', '--new-user-password', 'rootpw']);
    await this.etcdctl(['user', 'add', user, '--new-user-password', password]);
    await this.etcdctl(['role', 'add', 'ipwarden-rw']);
    await this.etcdctl(['role', 'grant-permission', 'ipwarden-rw', '--prefix=true', 'readwrite', prefix]);
    await this.etcdctl(['user', 'grant-role', user, 'ipwarden-rw']);
    await this.etcdctl(['auth', 'enable']);
  }

  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => this.stop(m, 'SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
