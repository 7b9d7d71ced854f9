// Time windows: days of the week and hours of the day in an IANA time zone, read from the
// request's own time so that decide() stays a pure function.
import { GatewayError } from "../../core/errors.ts";
import type { WhenConfig } from "../../config/schema.ts";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
const MINUTE = 60_000;

/** Local time packed as day * 1440 + minute of day, day 0 = Monday. */
export type LocalClock = (time: number) => number;

function utcClock(time: number): number {
  const minutes = Math.floor(time / MINUTE);
  const day = Math.floor(minutes / 1440);
  // 1970-01-01 was a Thursday (3 with Monday as 0).
  return (((day + 3) % 7) + 7) % 7 * 1440 + (((minutes % 1440) + 1440) % 1440);
}

const QUARTER = 15 * MINUTE;
const BUCKET_CAP = 4096;

function zoneClock(zone: string): LocalClock {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
    });
  } catch {
    throw new GatewayError("E_POLICY_INVALID", `invalid timezone "${zone}" (expected an IANA name such as UTC or Europe/Berlin)`);
  }
  /** The zone's offset from UTC at a time, in whole minutes (the local wall clock minus UTC). */
  const offsetAt = (time: number): number => {
    const p: Record<string, number> = {};
    for (const part of fmt.formatToParts(time)) if (part.type !== "literal") p[part.type] = Number(part.value);
    const local = Date.UTC(p["year"]!, p["month"]! - 1, p["day"]!, p["hour"]!, p["minute"]!);
    if (!Number.isFinite(local)) throw new GatewayError("E_INTERNAL", `cannot read the local time in time zone "${zone}"`);
    return Math.round((local - Math.floor(time / MINUTE) * MINUTE) / MINUTE);
  };
  // Formatting costs microseconds; offsets change only at transitions, which fall on quarter
  // hours in every zone in use. So the offset is found once per quarter hour (checked at
  // both ends; a quarter that holds a transition is computed per request) and remembered.
  const buckets = new Map<number, number>();
  let lastBucket = Number.NaN;
  let lastOffset = 0;
  return (time) => {
    const bucket = Math.floor(time / QUARTER);
    let offset: number;
    if (bucket === lastBucket) offset = lastOffset;
    else {
      let known = buckets.get(bucket);
      if (known === undefined) {
        const a = offsetAt(bucket * QUARTER);
        const b = offsetAt(bucket * QUARTER + QUARTER - 1);
        known = a === b ? a : Number.NaN;
        if (buckets.size >= BUCKET_CAP) buckets.clear();
        buckets.set(bucket, known);
      }
      if (Number.isNaN(known)) return utcClock(time + offsetAt(time) * MINUTE);
      lastBucket = bucket;
      lastOffset = known;
      offset = known;
    }
    return utcClock(time + offset * MINUTE);
  };
}

/** One clock per zone per policy, shared by the rules that name it. */
export function createZoneClocks(): (zone: string) => LocalClock {
  const clocks = new Map<string, LocalClock>();
  return (zone) => {
    let c = clocks.get(zone);
    if (!c) {
      c = zone === "UTC" ? utcClock : zoneClock(zone);
      clocks.set(zone, c);
    }
    return c;
  };
}

function dayMask(days: readonly string[]): number {
  let mask = 0;
  for (const entry of days) {
    const [a, b] = entry.split("-");
    const from = DAYS.indexOf(a as (typeof DAYS)[number]);
    const to = b === undefined ? from : DAYS.indexOf(b as (typeof DAYS)[number]);
    if (from < 0 || to < 0) throw new GatewayError("E_POLICY_INVALID", `invalid day "${entry}" (expected e.g. mon, mon-fri)`);
    // Ranges may wrap around the week: fri-mon is Friday to Monday.
    for (let d = from; ; d = (d + 1) % 7) {
      mask |= 1 << d;
      if (d === to) break;
    }
  }
  return mask;
}

function parseHours(text: string): { start: number; end: number } {
  const m = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/.exec(text);
  if (!m) throw new GatewayError("E_POLICY_INVALID", `invalid hours "${text}" (expected HH:MM-HH:MM)`);
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  if (start >= 1440 || end > 1440 || Number(m[2]) > 59 || Number(m[4]) > 59) {
    throw new GatewayError("E_POLICY_INVALID", `invalid hours "${text}" (times run from 00:00 to 24:00)`);
  }
  if (start === end) throw new GatewayError("E_POLICY_INVALID", `empty hours window "${text}" (start equals end)`);
  return { start, end };
}

/**
 * Days and hours are each tested against the request's local day and time: with
 * `days: [fri]` and `hours: 22:00-06:00`, Saturday 02:00 does not match (Saturday is not
 * listed). End times are exclusive; a window whose end is before its start runs overnight.
 */
export function compileWhen(when: WhenConfig, clockFor: (zone: string) => LocalClock): (time: number) => boolean {
  const clock = clockFor(when.timezone ?? "UTC");
  const mask = when.days ? dayMask(when.days) : 0x7f;
  const hours = when.hours ? parseHours(when.hours) : null;
  const overnight = hours !== null && hours.end < hours.start;
  return (time) => {
    const local = clock(time);
    const day = Math.floor(local / 1440);
    if ((mask & (1 << day)) === 0) return false;
    if (hours === null) return true;
    const minute = local - day * 1440;
    return overnight ? minute >= hours.start || minute < hours.end : minute >= hours.start && minute < hours.end;
  };
}

/** A window as people write it: "mon-fri 09:00-17:00 UTC", "sat, sun Europe/Berlin". */
export function describeWhen(when: WhenConfig): string {
  const parts: string[] = [];
  if (when.days) parts.push(when.days.join(", "));
  if (when.hours) parts.push(when.hours);
  parts.push(when.timezone ?? "UTC");
  return parts.join(" ");
}
