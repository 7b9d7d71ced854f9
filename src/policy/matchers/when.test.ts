import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../core/errors.ts";
import { compileWhen, createZoneClocks } from "./when.ts";

const at = (iso: string) => Date.parse(iso);
const when = (w: Parameters<typeof compileWhen>[0]) => compileWhen(w, createZoneClocks());

describe("time windows", () => {
  test("hours are start-inclusive and end-exclusive", () => {
    const w = when({ hours: "09:00-17:00" });
    expect(w(at("2026-03-02T08:59:59Z"))).toBe(false);
    expect(w(at("2026-03-02T09:00:00Z"))).toBe(true);
    expect(w(at("2026-03-02T16:59:59.999Z"))).toBe(true);
    expect(w(at("2026-03-02T17:00:00Z"))).toBe(false);
  });

  test("overnight windows wrap around midnight", () => {
    const w = when({ hours: "22:00-06:00" });
    expect(w(at("2026-03-02T23:30:00Z"))).toBe(true);
    expect(w(at("2026-03-03T05:59:00Z"))).toBe(true);
    expect(w(at("2026-03-03T06:00:00Z"))).toBe(false);
    expect(w(at("2026-03-03T12:00:00Z"))).toBe(false);
  });

  test("day ranges, including ones that wrap the week", () => {
    const weekdays = when({ days: ["mon-fri"] });
    expect(weekdays(at("2026-03-02T12:00:00Z"))).toBe(true); // Monday
    expect(weekdays(at("2026-03-06T23:59:00Z"))).toBe(true); // Friday
    expect(weekdays(at("2026-03-07T00:00:00Z"))).toBe(false); // Saturday
    const weekend = when({ days: ["fri-mon"] });
    expect(weekend(at("2026-03-08T12:00:00Z"))).toBe(true); // Sunday
    expect(weekend(at("2026-03-04T12:00:00Z"))).toBe(false); // Wednesday
  });

  test("the local day and time of the zone count, not UTC", () => {
    // 2026-03-02T23:30Z is Tuesday 08:30 in Tokyo and Monday 18:30 in New York.
    const tokyo = when({ timezone: "Asia/Tokyo", days: ["tue"], hours: "08:00-09:00" });
    expect(tokyo(at("2026-03-02T23:30:00Z"))).toBe(true);
    const ny = when({ timezone: "America/New_York", days: ["mon"], hours: "18:00-19:00" });
    expect(ny(at("2026-03-02T23:30:00Z"))).toBe(true);
    expect(ny(at("2026-03-03T00:30:00Z"))).toBe(false);
  });

  test("daylight saving time moves the window in UTC", () => {
    const berlin = when({ timezone: "Europe/Berlin", hours: "09:00-17:00" });
    // Saturday 2026-03-28 is CET (UTC+1); Sunday 2026-03-29 is CEST (UTC+2) from 01:00 UTC.
    expect(berlin(at("2026-03-28T07:30:00Z"))).toBe(false); // 08:30 CET
    expect(berlin(at("2026-03-28T08:30:00Z"))).toBe(true); // 09:30 CET
    expect(berlin(at("2026-03-29T07:30:00Z"))).toBe(true); // 09:30 CEST
    expect(berlin(at("2026-03-29T15:30:00Z"))).toBe(false); // 17:30 CEST
    expect(berlin(at("2026-03-28T15:30:00Z"))).toBe(true); // 16:30 CET
    // The skipped hour: 02:00-03:00 local does not exist on 2026-03-29.
    const night = when({ timezone: "Europe/Berlin", hours: "02:00-03:00" });
    expect(night(at("2026-03-29T00:59:00Z"))).toBe(false); // 01:59 CET
    expect(night(at("2026-03-29T01:00:00Z"))).toBe(false); // 03:00 CEST
    expect(night(at("2026-03-30T00:30:00Z"))).toBe(true); // 02:30 CEST
  });

  test("the same minute asked twice in different zones gives each zone's answer", () => {
    const clocks = createZoneClocks();
    const a = compileWhen({ timezone: "Asia/Tokyo", hours: "08:00-09:00" }, clocks);
    const b = compileWhen({ timezone: "UTC", hours: "23:00-24:00" }, clocks);
    const t = at("2026-03-02T23:30:00Z");
    expect([a(t), b(t), a(t + 3_600_000), b(t + 3_600_000)]).toEqual([true, true, false, false]);
  });

  test("every minute around DST transitions agrees with Intl, including half-hour shifts", () => {
    const cases: [string, string][] = [
      ["Europe/Berlin", "2026-03-29T00:00:00Z"],
      ["Europe/Berlin", "2026-10-25T00:00:00Z"],
      ["America/New_York", "2026-03-08T05:00:00Z"],
      ["Australia/Lord_Howe", "2026-04-04T14:00:00Z"],
      ["Australia/Lord_Howe", "2026-10-03T13:00:00Z"], // +10:30 → +11 at 15:30 UTC
      ["Asia/Kathmandu", "2026-01-01T00:00:00Z"],
    ];
    for (const [zone, start] of cases) {
      const fmt = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", weekday: "short", hour: "2-digit", minute: "2-digit" });
      const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
      const clock = createZoneClocks()(zone);
      const halfPastTwo = compileWhen({ timezone: zone, hours: "02:30-03:00" }, createZoneClocks());
      let mismatches = 0;
      for (let m = 0; m < 6 * 60; m += 1) {
        const t = Date.parse(start) + m * 60_000 + 30_000;
        const parts = Object.fromEntries(fmt.formatToParts(t).map((p) => [p.type, p.value]));
        const local = days.indexOf(parts["weekday"]!) * 1440 + Number(parts["hour"]) * 60 + Number(parts["minute"]);
        if (clock(t) !== local) mismatches++;
        const minute = local % 1440;
        if (halfPastTwo(t) !== (minute >= 150 && minute < 180)) mismatches++;
      }
      expect(`${zone} ${start}: ${mismatches} mismatches`).toBe(`${zone} ${start}: 0 mismatches`);
    }
  });

  test("invalid zones and empty windows are policy errors", () => {
    expect(() => when({ timezone: "Mars/Olympus_Mons" })).toThrow(GatewayError);
    expect(() => when({ hours: "09:00-09:00" })).toThrow(GatewayError);
  });
});
