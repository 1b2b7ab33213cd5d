import { describe, expect, it } from "vitest";
import { moveRule, parseProtocol, splitList } from "./api";

describe("rule helpers", () => {
  it("moves a rule up and down and ignores moves past the ends", () => {
    expect(moveRule(["a", "b", "c"], 1, -1)).toEqual(["b", "a", "c"]);
    expect(moveRule(["a", "b", "c"], 1, 1)).toEqual(["a", "c", "b"]);
    expect(moveRule(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
    expect(moveRule(["a", "b", "c"], 2, 1)).toEqual(["a", "b", "c"]);
  });
  it("splits comma or space separated lists", () => {
    expect(splitList(" 10.0.0.0/8, 192.168.0.0/16  ::1/128 ")).toEqual(["10.0.0.0/8", "192.168.0.0/16", "::1/128"]);
    expect(splitList("")).toEqual([]);
  });
  it("sends numeric protocols as numbers and names as lower-case strings", () => {
    expect(parseProtocol("6")).toBe(6);
    expect(parseProtocol("TCP")).toBe("tcp");
    expect(parseProtocol("")).toBe("any");
  });
});
