// Latency samples by request kind, error and retry counts, percentiles, and the printed table.
// Samples are kept whole (a 20 s run is at most a few hundred thousand numbers), so percentiles are exact.

export class Recorder {
  samples = new Map<string, number[]>();
  errors = new Map<string, number>();
  retries = new Map<string, number>();
  certificates = 0;
  /** false outside the measured window: samples are then dropped */
  active = true;
  /** when set, every request's kind and [start, end] on the monotonic clock (µs) */
  trace?: Array<{ kind: string; start: number; end: number }>;

  latency(kind: string, ms: number): void {
    if (!this.active) return;
    let list = this.samples.get(kind);
    if (!list) this.samples.set(kind, (list = []));
    list.push(ms);
  }
  error(type: string): void {
    if (!this.active) return;
    this.errors.set(type, (this.errors.get(type) ?? 0) + 1);
  }
  retried(type: string): void {
    if (!this.active) return;
    this.retries.set(type, (this.retries.get(type) ?? 0) + 1);
  }
  /** Forget everything recorded so far (the end of the warm-up). */
  reset(): void {
    this.samples.clear();
    this.errors.clear();
    this.retries.clear();
    this.certificates = 0;
  }
}

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of a sorted list. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export function summarize(values: number[]): LatencySummary {
  const s = [...values].sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    count: s.length,
    mean: round(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
    p50: round(percentile(s, 50)),
    p95: round(percentile(s, 95)),
    p99: round(percentile(s, 99)),
    max: round(s[s.length - 1] ?? NaN),
  };
}

/** Request kinds in flow order, then anything else alphabetically. */
const ORDER = ["newNonce", "newAccount", "newOrder", "authz", "challenge", "pollAuthz", "pollOrder", "finalize", "certificate", "revoke", "flow"];

export function latencyTable(latency: Record<string, LatencySummary>): string {
  const kinds = Object.keys(latency).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const rows = kinds.map((k) => {
    const l = latency[k];
    return [k, String(l.count), fmt(l.mean), fmt(l.p50), fmt(l.p95), fmt(l.p99), fmt(l.max)];
  });
  return table(["request", "count", "mean ms", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows);
}

function rank(kind: string): number {
  const i = ORDER.indexOf(kind);
  return i < 0 ? ORDER.length : i;
}

export function fmt(v: number, digits = 1): string {
  if (!Number.isFinite(v)) return "-";
  return v >= 100 ? v.toFixed(0) : v.toFixed(digits);
}

/** A plain-text table with right-aligned numeric columns (first column left-aligned). */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** A Markdown table (for docs/performance.md). */
export function markdownTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? "---" : "---:"))), ...rows.map(line)].join("\n");
}
