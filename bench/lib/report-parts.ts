/** Pieces both reports (RESULTS.md, CLOUD-RESULTS.md) end with. */
import { durationText as formatDuration } from '../../src/util/duration.js';
import { SCENARIO_TITLES, type TrialResult } from './scenarios.js';

/** "## Anomalies" (every trial with a note, or `allWell`), the phases that failed, and the hand-written notes. */
export function closingSections(trials: readonly TrialResult[], errors: readonly string[], allWell: string, notes?: string): string[] {
  const odd = trials.filter((t) => t.note);
  const out = [
    '## Anomalies',
    '',
    ...(odd.length
      ? odd.map((t) => `- ${t.cloud ? `${t.cloud} ` : ''}${t.tool} ${SCENARIO_TITLES[t.scenario]} @${formatDuration(t.intervalMs)} run ${t.run + 1}: ${t.note}${t.timeline ? ` (${t.timeline})` : ''}`)
      : [allWell]),
    ...(errors.length ? ['', 'Phases that failed:', ...errors.map((e) => `- ${e}`)] : []),
    '',
  ];
  if (notes) out.push('## Notes', '', notes.trim(), '');
  return out;
}
