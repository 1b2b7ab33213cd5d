import { describe, expect, it } from "vitest";
import { formatWhen, protocolName } from "./format";

describe("format", () => {
  it("reads Unix seconds and ISO strings as the same instant", () => {
    expect(formatWhen(1_700_000_000)).toBe(formatWhen("2023-11-14T22:13:20Z"));
    expect(formatWhen(null)).toBe("—");
  });
  it("names common protocol numbers", () => {
    expect(protocolName(6)).toBe("tcp");
    expect(protocolName(17)).toBe("udp");
    expect(protocolName(47)).toBe("47");
    expect(protocolName("any")).toBe("any");
  });
});
