/**
 * `config print`: the effective config with durations as strings and every secret redacted;
 * its YAML is a valid rc file again.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { printableConfig, printConfig } from '../../src/config/print.js';
import { isSecretKeyName, redactSecretRef } from '../../src/config/secret.js';

const LITERALS = ['hunter2-literal-heartbeat-key', 'rotated-literal-key-two', 'EXO-API-SECRET-LITERAL', 'Bearer tok-LITERAL-123', 'pa55w0rd-LITERAL', 'tok-LITERAL-xyz'];

const CONFIG = `
node: { id: lb1, bind: "[::]:12345" }
secret:
  - { id: 1, key: ${LITERALS[0]} }
  - { id: 2, key: env:NEW_KEY }
  - { id: 3, key: ${LITERALS[1]} }
metrics: { listen: 127.0.0.1:9842 }
instances:
  web:
    address: 198.51.100.50
    interval: 250ms
    preemptDelay: 90s
    peers: [198.51.100.11, "[2001:db8::12]:4000"]
    checks:
      - plugin: http
        url: http://127.0.0.1/health
        headers: { Authorization: "${LITERALS[3]}", Accept: text/plain }
        password: ${LITERALS[4]}
    actions:
      - plugin: exoscale-eip
        apiKey: env:EXO_KEY
        apiSecret: ${LITERALS[2]}
        timeout: 1m
      - plugin: webhook
        after: [exoscale-eip]
        auth: { token: ${LITERALS[5]}, user: ops }
        credentials: file:/etc/ipwarden/creds
keepalived:
  instances:
    VI_1: { address: 198.51.100.60, actions: [{ plugin: notify, clientSecret: credential:notify }] }
`;

t.test('print: defaults, durations as strings, secrets redacted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-print-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config.yaml'), CONFIG);
  const loaded = await loadConfig({ cwd: dir, file: 'config.yaml', env: {} });
  const p = printableConfig(loaded) as any;

  t.same(p.secret, [
    { id: 1, key: '[redacted]' },
    { id: 2, key: 'env:NEW_KEY' },
    { id: 3, key: '[redacted]' },
  ]);
  t.same(p.node, { id: 'lb1', bind: '[::]:12345', control: '/run/ipwarden/ipwarden.sock' });
  t.equal(p.clockSkew, '1m');
  t.same(p.log, { level: 'info', format: 'json' });
  t.equal(p.stateFile, '/var/lib/ipwarden/state.json');
  const web = p.instances.web;
  t.same([web.interval, web.preemptDelay, web.priority, web.deadRatio, web.preempt], ['250ms', '90s', 100, 3, true]);
  t.same(web.checks[0], {
    plugin: 'http', name: 'http', interval: '1s', timeout: '1s', rise: 2, fall: 3, weight: 0, reverse: false, initialState: 'fail',
    url: 'http://127.0.0.1/health', headers: { Authorization: '[redacted]', Accept: 'text/plain' }, password: '[redacted]',
  });
  t.same(web.actions[0], { plugin: 'exoscale-eip', name: 'exoscale-eip', timeout: '1m', retries: 2, required: false, apiKey: 'env:EXO_KEY', apiSecret: '[redacted]' });
  t.same(web.actions[1].auth, { token: '[redacted]', user: 'ops' });
  t.same(web.actions[1].after, ['exoscale-eip'], 'the ordering key is printed');
  t.equal(web.actions[1].credentials, 'file:/etc/ipwarden/creds');
  t.equal(p.keepalived.instances.VI_1.actions[0].clientSecret, 'credential:notify', 'references are shown as written');

  for (const format of ['yaml', 'json'] as const) {
    const text = printConfig(loaded, format);
    for (const literal of LITERALS) t.notOk(text.includes(literal), `${format} output does not contain ${literal}`);
    t.ok(text.includes('[redacted]'));
  }
  t.equal(JSON.parse(printConfig(loaded, 'json')).instances.web.interval, '250ms');
});

t.test('printed YAML and JSON load back to the same config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-print-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'config.yaml'),
    'node: { bind: "[::]:12345" }\nsecret: env:K\nclockSkew: 90s\nplugins: [./x.mjs]\ninstances:\n  web:\n    address: 2001:db8::50\n    interval: 1.5s\n    peers: ["[2001:db8::11]:12345"]\n' +
      '    checks: [{ plugin: tcp, port: 80, timeout: 300ms, initialState: ok }]\n    actions: [{ plugin: exoscale-eip, apiSecret: env:S, retries: 0 }, { plugin: notify, script: /bin/true, after: [exoscale-eip] }]\n',
  );
  const original = await loadConfig({ cwd: dir, file: 'config.yaml', env: {} });
  writeFileSync(join(dir, 'printed.yaml'), printConfig(original, 'yaml', { hostname: 'lb7' }));
  writeFileSync(join(dir, 'printed.json'), printConfig(original, 'json', { hostname: 'lb7' }));
  for (const name of ['printed.yaml', 'printed.json']) {
    const again = await loadConfig({ cwd: dir, file: name, env: {} });
    t.same(again.config, { ...original.config, node: { ...original.config.node, id: 'lb7' } }, name);
  }
});

t.test('redaction helpers', async (t) => {
  for (const k of ['secret', 'key', 'apiKey', 'apiSecret', 'password', 'token', 'authorization', 'Authorization', 'clientSecret', 'bearerToken']) {
    t.ok(isSecretKeyName(k), k);
  }
  for (const k of ['address', 'keepalived', 'instances', 'peers', 'url', 'user', 'keys', 'backend']) t.notOk(isSecretKeyName(k), k);
  t.equal(redactSecretRef('env:X'), 'env:X');
  t.equal(redactSecretRef('file:/k'), 'file:/k');
  t.equal(redactSecretRef('credential:k'), 'credential:k');
  t.equal(redactSecretRef('hunter2'), '[redacted]');
});
