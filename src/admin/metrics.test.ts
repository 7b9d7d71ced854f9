import { expect, test } from "bun:test";
import { createMetrics } from "./metrics.ts";

test("renders counters, gauges and histograms in Prometheus text format", () => {
  const m = createMetrics();
  m.decisions.inc({ target: "api", effect: "deny" });
  m.decisions.inc({ target: "api", effect: "deny" });
  m.openSessions.set({ target: "db" }, 3);
  m.latency.observe({ target: "api" }, 0.003);
  m.latency.observe({ target: "api" }, 2);
  const text = m.render();
  expect(text).toContain('# TYPE gatehouse_decisions_total counter');
  expect(text).toContain('gatehouse_decisions_total{effect="deny",target="api"} 2');
  expect(text).toContain('# TYPE gatehouse_open_sessions gauge');
  expect(text).toContain('gatehouse_open_sessions{target="db"} 3');
  expect(text).toContain('gatehouse_request_duration_seconds_bucket{target="api",le="0.005"} 1');
  expect(text).toContain('gatehouse_request_duration_seconds_bucket{target="api",le="+Inf"} 2');
  expect(text).toContain('gatehouse_request_duration_seconds_count{target="api"} 2');
});

test("label values are escaped", () => {
  const m = createMetrics();
  m.authFailures.inc({ reason: 'a"b\\c\nd' });
  expect(m.render()).toContain('gatehouse_auth_failures_total{reason="a\\"b\\\\c\\nd"} 1');
});

test("label sets that differ only where a naive separator would be are kept apart", () => {
  const m = createMetrics();
  m.requests.inc({ target: "a\u0001b", outcome: "c" });
  m.requests.inc({ target: "a", outcome: "b\u0001c" });
  m.requests.inc({ outcome: "c", target: "a\u0001b" });
  const text = m.requests.render();
  expect(text).toContain('gatehouse_requests_total{outcome="c",target="a\u0001b"} 2');
  expect(text).toContain('gatehouse_requests_total{outcome="b\u0001c",target="a"} 1');
});

test("a bound series counts into the same series as inc/observe with those labels, and shows only once used", () => {
  const m = createMetrics();
  const forwarded = m.requests.bind({ target: "api", outcome: "forwarded" });
  const latency = m.latency.bind({ target: "api" });
  expect(m.render()).not.toContain('outcome="forwarded"');
  forwarded.inc();
  forwarded.inc(2);
  m.requests.inc({ outcome: "forwarded", target: "api" });
  latency.observe(0.003);
  m.latency.observe({ target: "api" }, 0.2);
  const text = m.render();
  expect(text).toContain('gatehouse_requests_total{outcome="forwarded",target="api"} 4');
  expect(text).toContain('gatehouse_request_duration_seconds_bucket{target="api",le="0.005"} 1');
  expect(text).toContain('gatehouse_request_duration_seconds_count{target="api"} 2');
});
