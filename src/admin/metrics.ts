// Prometheus text-format metrics: counters, gauges and histograms with labels, kept as
// plain maps so the hot path costs one map lookup and an add.

type Labels = Record<string, string>;

function renderLabels(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${String(labels[k]).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",");
}

// The hot path sees a handful of label sets over and over: remember each one's rendering.
const rendered = new Map<string, string>();
const MAX_RENDERED = 10_000;

function labelKey(labels: Labels): string {
  // Length-prefixed parts: no two label sets spell the same lookup key, whatever their text.
  let raw = "";
  for (const k in labels) {
    const v = String(labels[k]);
    raw += `${k.length}:${k}${v.length}:${v}`;
  }
  let key = rendered.get(raw);
  if (key === undefined) {
    key = renderLabels(labels);
    if (rendered.size < MAX_RENDERED) rendered.set(raw, key);
  }
  return key;
}

class Counter {
  readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, readonly type: "counter" | "gauge" = "counter") {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), value);
  }
  /** One label set resolved once, for a hot path that always counts the same series. */
  bind(labels: Labels): { inc(by?: number): void } {
    const k = labelKey(labels);
    const values = this.values;
    return { inc: (by = 1) => void values.set(k, (values.get(k) ?? 0) + by) };
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ""} ${v}`);
    return lines.join("\n");
  }
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[] = LATENCY_BUCKETS) {}
  observe(labels: Labels, value: number): void {
    this.#observeKey(labelKey(labels), value);
  }
  /** One label set resolved once, for a hot path that always observes the same series. */
  bind(labels: Labels): { observe(value: number): void } {
    const k = labelKey(labels);
    return { observe: (value) => this.#observeKey(k, value) };
  }
  #observeKey(k: string, value: number): void {
    let s = this.series.get(k);
    if (!s) {
      s = { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : "";
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ""} ${s.sum}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ""} ${s.count}`);
    }
    return lines.join("\n");
  }
}

export interface Metrics {
  readonly requests: Counter;
  readonly decisions: Counter;
  readonly latency: Histogram;
  readonly openSessions: Counter;
  readonly auditQueueDepth: Counter;
  readonly policyReloads: Counter;
  readonly authFailures: Counter;
  readonly auditWriteFailures: Counter;
  readonly secretReadFailures: Counter;
  readonly secretRotations: Counter;
  readonly mcpBudgetRefusals: Counter;
  render(): string;
}

export function createMetrics(): Metrics {
  const m = {
    requests: new Counter("gatehouse_requests_total", "Requests handled, by target and outcome."),
    decisions: new Counter("gatehouse_decisions_total", "Policy decisions, by target and effect."),
    latency: new Histogram("gatehouse_request_duration_seconds", "Time from request to response end, by target."),
    openSessions: new Counter("gatehouse_open_sessions", "Client sessions open now, by target.", "gauge"),
    auditQueueDepth: new Counter("gatehouse_audit_queue_depth", "Audit records written but not yet fsync'd.", "gauge"),
    policyReloads: new Counter("gatehouse_policy_reloads_total", "Policy reloads, by result (ok, rejected)."),
    authFailures: new Counter("gatehouse_auth_failures_total", "Rejected credentials, by reason."),
    auditWriteFailures: new Counter("gatehouse_audit_write_failures_total", "Audit records that could not be written, by record type and what followed (refused: the action was refused; lost: it had happened)."),
    secretReadFailures: new Counter("gatehouse_secret_read_failures_total", "Secret references that could not be read (the previous value stayed in use), by reference as written."),
    secretRotations: new Counter("gatehouse_secret_rotations_total", "Secret references whose value changed while running, by reference as written."),
    mcpBudgetRefusals: new Counter("gatehouse_mcp_budget_refusals_total", "MCP requests refused by a budget of the target's limits, by target and budget (calls, tool_calls, result_bytes, call_timeout)."),
  };
  return {
    ...m,
    render: () => `${Object.values(m).map((x) => x.render()).join("\n")}\n`,
  };
}
