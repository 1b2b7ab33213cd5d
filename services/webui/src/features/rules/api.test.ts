import { describe, expect, it } from "vitest";
import { dropRule, moveRule, parseProtocol, splitList } from "./api";

describe("rule helpers", () => {
  it("moves a rule up and down and ignores moves past the ends", () => {
    expect(moveRule(["a", "b", "c"], 1, -1)).toEqual(["b", "a", "c"]);
    expect(moveRule(["a", "b", "c"], 1, 1)).toEqual(["a", "c", "b"]);
    expect(moveRule(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
    expect(moveRule(["a", "b", "c"], 2, 1)).toEqual(["a", "b", "c"]);
  });
  it("drops a dragged rule at its new place", () => {
    expect(dropRule(["a", "b", "c", "d"], 3, 0)).toEqual(["d", "a", "b", "c"]);
    expect(dropRule(["a", "b", "c", "d"], 0, 2)).toEqual(["b", "c", "a", "d"]);
    expect(dropRule(["a", "b"], 1, 1)).toEqual(["a", "b"]);
    expect(dropRule(["a", "b"], 0, 5)).toEqual(["a", "b"]);
  });
  it("splits comma or space separated lists", () => {
    expect(splitList(" 10.0.0.0/8, 192.168.0.0/16  ::1/128 ")).toEqual(["10.0.0.0/8", "192.168.0.0/16", "::1/128"]);
    expect(splitList("")).toEqual([]);
  });
  it("sends protocols as strings (the API refuses a number where a string belongs)", () => {
    expect(parseProtocol("6")).toBe("6");
    expect(parseProtocol("017")).toBe("17");
    expect(parseProtocol("TCP")).toBe("tcp");
    expect(parseProtocol("")).toBe("any");
  });
});
