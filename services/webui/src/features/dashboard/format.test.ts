import { describe, expect, it } from "vitest";
import { formatBytes, formatCount, formatSpan, timeTickLabels } from "./format";

describe("formatCount", () => {
  it("keeps axis labels short at any magnitude instead of clipping at six digits", () => {
    expect(formatCount(1_234_567)).toBe("1.2 M");
    expect(formatCount(12_345_678)).toBe("12.3 M");
    expect(formatCount(123_456_789)).toBe("123 M");
    expect(formatCount(2_500_000_000)).toBe("2.5 G");
    expect(formatCount(1250)).toBe("1.3 k");
    expect(formatCount(950)).toBe("950");
    expect(formatCount(0)).toBe("0");
    expect(formatCount(0.25)).toBe("0.25");
    expect(formatCount(0.5)).toBe("0.5");
    expect(formatCount(0.004)).toBe("0.004");
    for (const n of [1, 999, 12_000, 999_999, 4.2e8, 7.7e11, 3.1e13]) {
      expect(formatCount(n).length).toBeLessThanOrEqual(6);
    }
  });
  it("carries into the next prefix when rounding reaches a thousand", () => {
    expect(formatCount(999_960)).toBe("1 M");
    expect(formatCount(999.96)).toBe("1 k");
  });
  it("shows a dash for nothing", () => {
    expect(formatCount(null)).toBe("—");
    expect(formatCount(Number.NaN)).toBe("—");
  });
});

describe("formatBytes", () => {
  it("uses binary units", () => {
    expect(formatBytes(3 * 1024 ** 3)).toBe("3 GiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(512)).toBe("512 B");
  });
});

describe("timeTickLabels", () => {
  const noon = new Date(2026, 0, 15, 12, 0, 0).getTime() / 1000;

  it("never repeats a label: a single sample does not draw ten identical times", () => {
    const ticks = Array.from({ length: 10 }, (_, i) => noon + i * 0.1);
    const labels = timeTickLabels(ticks, 1);
    expect(labels.filter((l) => l !== "")).toEqual(["12:00:00"]);
  });
  it("shows seconds for short windows and minutes for long ones", () => {
    expect(timeTickLabels([noon, noon + 30], 300)).toEqual(["12:00:00", "12:00:30"]);
    expect(timeTickLabels([noon, noon + 3600], 6 * 3600)).toEqual(["12:00", "13:00"]);
  });
  it("names the day where a long window crosses midnight", () => {
    const evening = new Date(2026, 0, 15, 22, 0, 0).getTime() / 1000;
    const labels = timeTickLabels([evening, evening + 4 * 3600], 24 * 3600);
    expect(labels[0]).toBe("22:00");
    expect(labels[1]).toMatch(/16.*02:00/);
  });
});

describe("formatSpan", () => {
  it("says a window's length in words", () => {
    expect(formatSpan(3600)).toBe("1 h");
    expect(formatSpan(900)).toBe("15 min");
    expect(formatSpan(5400)).toBe("1 h 30 min");
    expect(formatSpan(45)).toBe("45 s");
  });
});
