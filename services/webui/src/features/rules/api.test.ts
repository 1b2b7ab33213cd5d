import { describe, expect, it } from "vitest";
import { dropRule, moveRule, parseProtocol, readRuleSet, RULES_PAGE, splitList, type Rule, type RuleSetPage } from "./api";

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

describe("reading the whole rule set", () => {
  const rule = (position: number) => ({ id: `r${position}`, name: `rule ${position}`, position }) as unknown as Rule;
  /** A server holding `count` rules at `version()`, paging as GET /rules does. */
  function server(count: number, version: () => number) {
    const asked: number[] = [];
    const fetchPage = async (page: number): Promise<RuleSetPage> => {
      asked.push(page);
      const from = (page - 1) * RULES_PAGE;
      const data = Array.from({ length: Math.max(0, Math.min(RULES_PAGE, count - from)) }, (_, i) => rule(count - from - i));
      return { data, meta: { total: count, version: version(), default_action: "allow" } };
    };
    return { asked, fetchPage };
  }

  it("reads every page past the first and orders the rules by position", async () => {
    const { asked, fetchPage } = server(2 * RULES_PAGE + 5, () => 7);
    const { rules, meta } = await readRuleSet(fetchPage);
    expect(asked).toEqual([1, 2, 3]);
    expect(rules).toHaveLength(2 * RULES_PAGE + 5);
    expect(rules.map((r) => r.position).slice(0, 3)).toEqual([1, 2, 3]);
    expect(meta.version).toBe(7);
  });

  it("starts over when a write lands between two pages, and gives up if it never settles", async () => {
    let version = 1;
    const settling = server(RULES_PAGE + 1, () => (version < 3 ? version++ : version));
    const { rules, meta } = await readRuleSet(settling.fetchPage);
    expect(rules).toHaveLength(RULES_PAGE + 1);
    expect(meta.version).toBe(3);
    expect(settling.asked).toEqual([1, 2, 1, 2]);

    let busy = 1;
    await expect(readRuleSet(server(RULES_PAGE + 1, () => busy++).fetchPage)).rejects.toThrow(/kept changing/);
  });
});
