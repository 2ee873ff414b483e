/** Order statistics of failover times (pure). */

export interface Summary {
  n: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
  min: number;
  mean: number;
}

/**
 * The q-quantile (0..1) by linear interpolation between closest ranks (numpy's default).
 * With few samples p99 is close to the maximum: say so where N is small.
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Summary of the finite values (undefined and NaN are left out: count them separately as misses). */
export function summarize(values: readonly (number | undefined)[]): Summary | undefined {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return {
    n: v.length,
    median: quantile(v, 0.5),
    p90: quantile(v, 0.9),
    p99: quantile(v, 0.99),
    max: v[v.length - 1]!,
    min: v[0]!,
    mean: v.reduce((a, b) => a + b, 0) / v.length,
  };
}
