// Parsing of the config's human units: durations ("15m") and sizes ("10MB").
import { GatewayError } from "./errors.ts";

const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const SIZE_BYTES = { B: 1, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;

export function parseDuration(text: string): number {
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new GatewayError("E_USAGE", `invalid duration: "${text}" (expected e.g. 500ms, 30s, 15m, 8h, 1d)`);
  return Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS];
}

export function parseSize(text: string): number {
  const m = /^([0-9]+)(B|KB|MB|GB|KiB|MiB|GiB)?$/.exec(text.trim());
  if (!m) throw new GatewayError("E_USAGE", `invalid size: "${text}" (expected e.g. 512KB, 10MB, 1GiB)`);
  return Number(m[1]) * SIZE_BYTES[(m[2] ?? "B") as keyof typeof SIZE_BYTES];
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
