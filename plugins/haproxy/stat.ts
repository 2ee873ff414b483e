/**
 * HAProxy `show stat` CSV: parsing (by header name, never by column position) and the health rule
 * for one backend. Pure functions.
 *
 * The rule (see shared reference "HAProxy runtime API"): the BACKEND row's status starts with "UP"
 * AND its usable servers (act + bck of the BACKEND row) >= minUp. HAProxy reports an empty backend
 * as UP, so the count matters. If `frontend` is given, its FRONTEND row must be OPEN.
 */
import type { CheckResult } from '../../src/index.js';

export class StatParseError extends Error {
  override name = 'StatParseError';
}

export type StatRow = Record<string, string>;

/** Splits one CSV line; HAProxy quotes with `"` only when needed, `""` inside quotes is a quote. */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  let quoted = false;
  while (i < line.length) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else cur += ch;
    } else if (ch === '"' && cur === '') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
    i++;
  }
  if (quoted) throw new StatParseError('unterminated quoted field');
  out.push(cur);
  return out;
}

/** Parses `show stat` output into rows keyed by the header's column names. */
export function parseShowStat(text: string): StatRow[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const headerIdx = lines.findIndex((l) => l.trim() !== '');
  const header = headerIdx >= 0 ? lines[headerIdx]! : '';
  if (!header.startsWith('# ')) {
    const first = header.trim().slice(0, 120);
    throw new StatParseError(first ? `not "show stat" CSV output: ${JSON.stringify(first)}` : 'empty answer');
  }
  const names = splitCsvLine(header.slice(2));
  for (const required of ['pxname', 'svname', 'status']) {
    if (!names.includes(required)) throw new StatParseError(`the CSV header has no "${required}" column`);
  }
  const rows: StatRow[] = [];
  for (const line of lines.slice(headerIdx + 1)) {
    if (line.trim() === '') continue;
    const cells = splitCsvLine(line);
    const row: StatRow = {};
    names.forEach((name, i) => {
      if (name !== '') row[name] = cells[i] ?? '';
    });
    rows.push(row);
  }
  return rows;
}

export interface BackendRule {
  backend: string;
  minUp: number;
  frontend?: string;
}

type ServerClass = 'up' | 'down' | 'maint' | 'drain' | 'nolb';

/** How a server row's status counts: "UP", "UP 1/3" (going down) and "no check" are usable. */
export function classifyServer(status: string): ServerClass {
  const s = status.trim().toUpperCase();
  if (s.startsWith('MAINT')) return 'maint';
  if (s.startsWith('DRAIN')) return 'drain';
  if (s.startsWith('NOLB')) return 'nolb';
  if (s.startsWith('UP') || s === 'NO CHECK') return 'up';
  return 'down';
}

const SPECIAL = new Set(['FRONTEND', 'BACKEND']);

function isServerRow(row: StatRow): boolean {
  if (SPECIAL.has(row.svname ?? '')) return false;
  // type 2 = server, 3 = listener (listeners belong to frontends)
  return row.type === undefined || row.type === '' || row.type === '2';
}

function int(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isInteger(n) ? n : undefined;
}

function why(row: StatRow): string {
  const last = (row.last_chk ?? '').trim();
  const check = (row.check_status ?? '').replace(/^\*\s*/, '').trim();
  const reason = last || check;
  return reason ? `${row.status}: ${reason}` : (row.status ?? '');
}

/** Judges one backend (and optionally a frontend) from parsed `show stat` rows. */
export function evaluateBackend(rows: readonly StatRow[], rule: BackendRule): CheckResult {
  const mine = rows.filter((r) => r.pxname === rule.backend);
  const be = mine.find((r) => r.svname === 'BACKEND');
  if (!be) {
    const backends = [...new Set(rows.filter((r) => r.svname === 'BACKEND').map((r) => r.pxname))];
    const hint = mine.length > 0 ? `${rule.backend} has no BACKEND row (a frontend?)` : `backend ${rule.backend} not found`;
    return { ok: false, detail: `${hint}; backends: ${backends.join(', ') || 'none'}` };
  }
  const servers = mine.filter(isServerRow);
  const serversUp = servers.filter((s) => classifyServer(s.status ?? '') === 'up' && (int(s.weight) ?? 1) > 0).length;
  const act = int(be.act);
  const bck = int(be.bck);
  const usable = act !== undefined || bck !== undefined ? (act ?? 0) + (bck ?? 0) : serversUp;

  const groups: Record<Exclude<ServerClass, 'up'>, string[]> = { down: [], maint: [], drain: [], nolb: [] };
  for (const s of servers) {
    const cls = classifyServer(s.status ?? '');
    if (cls !== 'up') groups[cls].push(`${s.svname} (${why(s)})`);
  }
  const problems = (Object.keys(groups) as (keyof typeof groups)[])
    .filter((k) => groups[k].length > 0)
    .map((k) => `${k}: ${groups[k].join(', ')}`);

  const beStatus = (be.status ?? '').trim();
  const beUp = beStatus.toUpperCase().startsWith('UP');
  let head = `backend ${rule.backend}: ${usable}/${servers.length} servers up`;
  if (servers.length === 0) head += ' (no servers)';
  const failures: string[] = [];
  if (!beUp) failures.push(`backend is ${beStatus || 'in an unknown state'}`);
  if (usable < rule.minUp) failures.push(`need ${rule.minUp}`);

  let frontendNote = '';
  if (rule.frontend !== undefined) {
    const fe = rows.find((r) => r.pxname === rule.frontend && r.svname === 'FRONTEND');
    if (!fe) failures.push(`frontend ${rule.frontend} not found`);
    else if ((fe.status ?? '').trim().toUpperCase() !== 'OPEN') failures.push(`frontend ${rule.frontend} is ${fe.status || 'not open'}`);
    else frontendNote = `; frontend ${rule.frontend} OPEN`;
  }
  const ok = failures.length === 0;
  const detail = [ok ? head : `${head}, ${failures.join(', ')}`, ...problems].join('; ') + frontendNote;
  return { ok, detail, metrics: { serversUp: usable, servers: servers.length } };
}
