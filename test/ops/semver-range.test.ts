/** The range reader the package test judges `engines` with, against ranges found in real packages. */
import t from 'tap';
import { minVersion, satisfies } from './lib/semver-range.js';

t.test('ranges as dependencies declare them', async (t) => {
  const cases: [string, string, boolean][] = [
    ['20.5.0', '>=20.5', true],
    ['20.4.9', '>=20.5', false],
    ['20.5.0', '^18.19.0 || >=20.5.0', true],
    ['19.9.0', '^18.19.0 || >=20.5.0', false],
    ['18.20.1', '^18.19.0 || >=20.5.0', true],
    ['20.5.0', '^16 || ^18 || >=20', true],
    ['17.0.0', '^16 || ^18 || >=20', false],
    ['20.5.0', '>= 8', true],
    ['20.5.0', '>= 10.x', true],
    ['9.11.0', '>= 10.x', false],
    ['20.5.0', '>=20', true],
    ['20.5.0', '^20.19.0 || >=22.12.0', false],
    ['22.12.0', '^20.19.0 || >=22.12.0', true],
    ['22.11.9', '^20.19.0 || >=22.12.0', false],
    ['20.5.0', '>=20.6.0', false],
    ['20.5.0', '>20', false],
    ['20.5.0', '>20.4', true],
    ['20.5.0', '<=20', true],
    ['21.0.0', '<=20', false],
    ['20.5.0', '~20.5.1', false],
    ['20.5.3', '~20.5.1', true],
    ['20.6.0', '~20.5.1', false],
    ['0.2.5', '^0.2.3', true],
    ['0.3.0', '^0.2.3', false],
    ['20.5.0', '18 - 20', true],
    ['21.0.0', '18 - 20', false],
    ['20.5.0', '20.x', true],
    ['20.5.0', '*', true],
    ['20.5.0', '', true],
    ['20.5.0', '>=18 <20', false],
    ['19.1.0', '>=18 <20', true],
  ];
  for (const [v, range, want] of cases) t.equal(satisfies(v, range), want, `${v} ${want ? 'satisfies' : 'does not satisfy'} "${range}"`);
  t.throws(() => satisfies('20.5.0', '>=twenty'));
  t.equal(minVersion('>=20.5'), '20.5.0');
  t.throws(() => minVersion('^20'));
});
