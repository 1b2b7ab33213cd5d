import { describe, expect, it } from "vitest";
import { isCidr, isPortRange, parseVlan, validateRule } from "./validate";

const form = (over: Partial<Parameters<typeof validateRule>[0]> = {}) => ({
  name: "r", protocol: "any", src: "", dst: "", srcPorts: "", dstPorts: "", vlan: "", ...over,
});

describe("rule form checks", () => {
  it("knows CIDRs", () => {
    for (const ok of ["10.0.0.0/8", "192.168.1.10", "0.0.0.0/0", "::/0", "2001:db8::/32", "fe80::1", "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8/128"]) expect(isCidr(ok), ok).toBe(true);
    for (const bad of ["10.0.0.300/8", "10.0.0/8", "10.0.0.0/33", "abc", "2001:db8::/129", "1::2::3", "1:2:3:4:5:6:7:8:9", "10.0.0.0/8/8", ""]) expect(isCidr(bad), bad).toBe(false);
  });
  it("knows ports and ranges", () => {
    expect(["1", "443", "65535", "1000-2000", "80-80"].every(isPortRange)).toBe(true);
    expect(["0", "65536", "70000", "2000-1000", "80-", "-80", "http"].some(isPortRange)).toBe(false);
  });
  it("never reads a non-numeric VLAN as 'any VLAN'", () => {
    expect(parseVlan("")).toBeNull();
    expect(parseVlan("0")).toBe(0);
    expect(parseVlan("4095")).toBe(4095);
    expect(parseVlan("abc")).toBeUndefined();
    expect(parseVlan("4096")).toBeUndefined();
    expect(parseVlan("-1")).toBeUndefined();
    expect(parseVlan("1.5")).toBeUndefined();
    expect(validateRule(form({ vlan: "abc" })).vlan).toMatch(/number from 0 to 4095/);
  });
  it("names every problem in plain language", () => {
    const errors = validateRule(form({ name: " ", protocol: "sctp", src: "10.0.0.300/8, 10.0.0.0/8", dstPorts: "70000" }));
    expect(errors.name).toBe("Give the rule a name.");
    expect(errors.protocol).toMatch(/^Use any, tcp, udp/);
    expect(errors.src).toMatch(/^“10.0.0.300\/8” is not an IP address/);
    expect(errors.dst_ports).toMatch(/^“70000” is not a port/);
    expect(validateRule(form({ protocol: "icmp", dstPorts: "53" })).dst_ports).toMatch(/only apply to tcp, udp or any/);
    expect(validateRule(form({ protocol: "17", dstPorts: "53" }))).toEqual({});
  });
});
