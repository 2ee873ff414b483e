/**
 * `show stat` CSV parsing by header name and the backend rule, on hand-written CSV
 * (column order shuffled, quoting, HAProxy status variants).
 */
import t from 'tap';
import { classifyServer, evaluateBackend, parseShowStat, splitCsvLine } from '../../plugins/haproxy/stat.js';

t.test('splitCsvLine', async (t) => {
  t.same(splitCsvLine('a,b,,d,'), ['a', 'b', '', 'd', '']);
  t.same(splitCsvLine('x,"Connection refused, again",y'), ['x', 'Connection refused, again', 'y']);
  t.same(splitCsvLine('"say ""hi""",z'), ['say "hi"', 'z']);
  t.throws(() => splitCsvLine('"open'), /unterminated/);
});

t.test('columns are found by name, whatever their order', async (t) => {
  const csv = [
    '# status,type,svname,act,pxname,bck,weight,last_chk,',
    'OPEN,0,FRONTEND,,fe,,,,',
    'OPEN,3,sock-1,,fe,,,,',
    'UP,2,web1,1,web,0,1,"HTTP status check returned code <200>",',
    'DOWN,2,web2,0,web,0,1,"Connection refused, twice",',
    'UP,2,spare,0,web,1,1,,',
    'UP,1,BACKEND,1,web,1,3,,',
    '',
  ].join('\n');
  const rows = parseShowStat(csv);
  t.equal(rows.length, 6);
  t.same(rows[3], { status: 'DOWN', type: '2', svname: 'web2', act: '0', pxname: 'web', bck: '0', weight: '1', last_chk: 'Connection refused, twice' });
  const r = evaluateBackend(rows, { backend: 'web', minUp: 2 });
  t.same(r, { ok: true, detail: 'backend web: 2/3 servers up; down: web2 (DOWN: Connection refused, twice)', metrics: { serversUp: 2, servers: 3 } });
  t.equal(evaluateBackend(rows, { backend: 'web', minUp: 3 }).ok, false);
  t.same(evaluateBackend(rows, { backend: 'fe', minUp: 1 }), { ok: false, detail: 'fe has no BACKEND row (a frontend?); backends: web' });
  t.match(evaluateBackend(rows, { backend: 'web', minUp: 1, frontend: 'fe' }), { ok: true, detail: /; frontend fe OPEN$/ });
});

t.test('without act/bck columns, server rows UP with weight > 0 are counted', async (t) => {
  const csv = ['# pxname,svname,status,weight', 'b,s1,UP,1', 'b,s2,UP 1/3,1', 'b,s3,UP,0', 'b,s4,no check,1', 'b,BACKEND,UP,3'].join('\n');
  t.same(evaluateBackend(parseShowStat(csv), { backend: 'b', minUp: 3 }), { ok: true, detail: 'backend b: 3/4 servers up', metrics: { serversUp: 3, servers: 4 } });
});

t.test('a DOWN backend and a stopped frontend fail', async (t) => {
  const csv = [
    '# pxname,svname,status,act,bck,check_status',
    'fe,FRONTEND,STOP,,,',
    'b,s1,MAINT (via b/s0),0,0,',
    'b,s2,DOWN 1/2,0,0,* L4CON',
    'b,s3,DRAIN (agent),0,0,',
    'b,s4,NOLB,0,0,',
    'b,BACKEND,DOWN,0,0,',
  ].join('\n');
  t.same(evaluateBackend(parseShowStat(csv), { backend: 'b', minUp: 1, frontend: 'fe' }), {
    ok: false,
    detail:
      'backend b: 0/4 servers up, backend is DOWN, need 1, frontend fe is STOP; down: s2 (DOWN 1/2: L4CON); maint: s1 (MAINT (via b/s0)); drain: s3 (DRAIN (agent)); nolb: s4 (NOLB)',
    metrics: { serversUp: 0, servers: 4 },
  });
});

t.test('server status classes', async (t) => {
  const cases: [string, string][] = [
    ['UP', 'up'], ['UP 1/3', 'up'], ['no check', 'up'], ['DOWN', 'down'], ['DOWN 1/2', 'down'], ['DOWN (agent)', 'down'],
    ['NOLB', 'nolb'], ['NOLB 1/2', 'nolb'], ['MAINT', 'maint'], ['MAINT (via web/web1)', 'maint'], ['MAINT (resolution)', 'maint'],
    ['DRAIN', 'drain'], ['DRAIN (agent)', 'drain'], ['', 'down'],
  ];
  for (const [status, cls] of cases) t.equal(classifyServer(status), cls, status);
});

t.test('unparsable answers', async (t) => {
  t.throws(() => parseShowStat(''), /empty answer/);
  t.throws(() => parseShowStat('Permission denied\n'), /not "show stat" CSV output: "Permission denied"/);
  t.throws(() => parseShowStat('# pxname,status\nx,UP'), /no "svname" column/);
});
