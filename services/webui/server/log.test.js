// @vitest-environment node
import { describe, expect, it } from "vitest";
import { logLine } from "./log.js";

describe("log lines", () => {
  it("have the Python services' field names and time format", () => {
    const line = JSON.parse(logLine("info", "webui listening", { url: "http://x/" }, new Date(Date.UTC(2026, 4, 1, 12, 0, 0, 123))));
    expect(Object.keys(line).slice(0, 4)).toEqual(["ts", "level", "logger", "msg"]);
    expect(line).toMatchObject({ ts: "2026-05-01T12:00:00.123Z", level: "info", logger: "webui", msg: "webui listening", url: "http://x/" });
  });

  it("refuse a level the Python services do not write", () => {
    expect(() => logLine("warn", "x")).toThrow();
  });
});
