/** The pure part of the floating-IP controller: desired attachment per state, next step per read; and the registry's shape. */
import t from 'tap';
import { desiredFor, nextStep, reconcilesIn } from '../../src/cloud/decisions.js';
import { CLOUDS, cloudCliFlags, findCloud } from '../../src/cloud/registry.js';

t.test('desired attachment per state', async (t) => {
  t.equal(desiredFor('MASTER', 'move', true), 'exclusive');
  t.equal(desiredFor('MASTER', 'all-healthy', true), 'attached');
  t.equal(desiredFor('BACKUP', 'move', true), 'released');
  t.equal(desiredFor('BACKUP', 'move', true, 'MASTER'), 'handover', 'a yielding MASTER hands over');
  t.equal(desiredFor('BACKUP', 'move', false, 'MASTER'), 'keep');
  t.equal(desiredFor('FAULT', 'move', true, 'MASTER'), 'released');
  t.equal(desiredFor('BACKUP', 'move', true, 'MASTER', 'yield'), 'handover');
  t.equal(desiredFor('BACKUP', 'move', true, 'MASTER', 'lease-lost'), 'released', 'a MASTER that lost etcd releases');
  t.equal(desiredFor('STOP', 'move', true, 'MASTER', 'handover'), 'handover', 'a MASTER stopping while a live peer takes over hands over');
  t.equal(desiredFor('STOP', 'move', true, 'MASTER', 'shutdown'), 'released', 'the last node stopping releases');
  t.equal(desiredFor('STOP', 'all-healthy', true, 'MASTER', 'handover'), 'released', 'all-healthy: the others hold it already');
  t.equal(desiredFor('STOP', 'move', false, 'MASTER', 'handover'), 'keep');
  t.equal(desiredFor('INIT', 'move', true), 'keep');
  t.ok(reconcilesIn('MASTER', 'move'));
  t.notOk(reconcilesIn('BACKUP', 'move'));
  t.ok(reconcilesIn('BACKUP', 'all-healthy'));
});

t.test('next step from the last read', async (t) => {
  const s = (desired: Parameters<typeof nextStep>[0]['desired'], holders: string[], mode: 'single' | 'multi' = 'multi', revoke?: Set<string>) =>
    nextStep({ desired, holders, self: 'me', mode, ...(revoke ? { revoke } : {}) });
  t.same(s('exclusive', []), { kind: 'attach' });
  t.same(s('exclusive', ['other']), { kind: 'attach' }, 'make-before-break: attach first');
  t.same(s('exclusive', ['me', 'other', 'third']), { kind: 'fence', targets: ['other', 'third'] });
  t.same(s('exclusive', ['me']), { kind: 'done' }, 'ends only on a read showing here and nobody else');
  t.same(s('exclusive', ['other'], 'single'), { kind: 'attach' }, 'single-holder: one attach moves it');
  t.same(s('attached', ['me', 'peer']), { kind: 'done' }, 'all-healthy leaves live peers alone');
  t.same(s('attached', ['me', 'peer'], 'multi', new Set(['peer'])), { kind: 'fence', targets: ['peer'] }, 'and revokes dead ones');
  t.same(s('released', ['me', 'x']), { kind: 'detach-self' });
  t.same(s('released', ['x']), { kind: 'done' });
  t.same(s('handover', ['me']), { kind: 'hand-over-later' }, 'the only holder keeps it for the new MASTER');
  t.same(s('handover', ['me', 'new']), { kind: 'detach-self' }, 'detaches once the new holder shows');
  t.same(s('handover', ['me'], 'single'), { kind: 'hand-over-later' }, 'single-holder: the new MASTER\'s attach moves it');
  t.same(s('keep', ['me']), { kind: 'done' });
});

t.test('the first step of a pass, before any read', async (t) => {
  const first = (desired: Parameters<typeof nextStep>[0]['desired'], knownUnheld: boolean) => nextStep({ desired, holders: undefined, knownUnheld, self: 'me', mode: 'multi' });
  t.same(first('exclusive', true), { kind: 'attach' }, 'known unheld: attach first, the read-back follows');
  t.same(first('attached', true), { kind: 'attach' }, 'the same for all-healthy');
  t.same(first('exclusive', false), { kind: 'read' }, 'held or unknown: read first');
  t.same(first('attached', false), { kind: 'read' });
  for (const d of ['released', 'handover'] as const) {
    t.same(first(d, true), { kind: 'read' }, `${d}: always reads (it acts on other holders too)`);
    t.same(first(d, false), { kind: 'read' });
  }
  t.same(first('keep', false), { kind: 'done' }, 'keep: no call at all');
  t.same(nextStep({ desired: 'exclusive', holders: undefined, self: 'me', mode: 'single' }), { kind: 'read' }, 'knownUnheld absent means unknown');
});

t.test('the registry: unique names, loadable modules, flags shared by name mean one thing', async (t) => {
  t.equal(new Set(CLOUDS.map((c) => c.cloud)).size, CLOUDS.length);
  t.equal(findCloud('exoscale')?.action, 'exoscale-eip');
  for (const c of CLOUDS) {
    const mod = await c.load();
    t.equal(typeof mod.cli.connect, 'function', `${c.cloud}: CLI connection`);
  }
  const all = cloudCliFlags();
  for (const c of CLOUDS) for (const [name, f] of Object.entries(c.cliFlags)) t.equal(f.type, all[name]!.type, `${c.cloud} --${name}: same type as every other cloud's`);
  for (const reserved of ['provider', 'address', 'target', 'exclusive', 'json']) t.notOk(reserved in all, `no cloud redefines --${reserved}`);
});
