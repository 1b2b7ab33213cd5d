/**
 * The rule dialog's checks, the same the API makes (packet-service README, "Rules"), so a typo
 * is caught before anything is sent — and a VLAN that is not a number can never turn into
 * "any VLAN" on the way.
 */
import { parseProtocol, splitList } from "./api";

export const NAMED_PROTOCOLS = ["any", "tcp", "udp", "icmp", "icmpv6"] as const;
const PORT_PROTOCOLS = new Set(["any", "tcp", "udp", "6", "17"]);

export interface RuleForm {
  name: string;
  protocol: string;
  src: string;
  dst: string;
  srcPorts: string;
  dstPorts: string;
  vlan: string;
}

function ipv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function ipv6(text: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.split("::").length > 2) return false;
  let groups = text.split(":");
  let size = 8;
  // An IPv4 tail (::ffff:192.0.2.1) takes two groups' room.
  const last = groups[groups.length - 1];
  if (last.includes(".")) {
    if (!ipv4(last)) return false;
    groups = groups.slice(0, -1);
    size = 6;
  }
  const compressed = text.includes("::");
  const filled = groups.filter((g) => g !== "");
  if (!filled.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  // Empty groups are allowed only where "::" stands.
  if (!compressed && groups.some((g) => g === "")) return false;
  return compressed ? filled.length < size : filled.length === size;
}

/** "10.0.0.0/8", "192.0.2.1", "2001:db8::/32": an address with an optional prefix length. */
export function isCidr(text: string): boolean {
  const [addr, prefix, extra] = text.trim().split("/");
  if (extra !== undefined || !addr) return false;
  const v4 = ipv4(addr);
  if (!v4 && !ipv6(addr)) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (v4 ? 32 : 128);
}

/** "443" or "1000-2000", within 1–65535, low ≤ high. */
export function isPortRange(text: string): boolean {
  const m = text.trim().match(/^(\d{1,5})(?:-(\d{1,5}))?$/);
  if (!m) return false;
  const low = Number(m[1]);
  const high = m[2] === undefined ? low : Number(m[2]);
  return low >= 1 && high <= 65535 && low <= high;
}

/** The VLAN as sent: null for "any", a number 0–4095, or undefined when the text is no VLAN. */
export function parseVlan(text: string): number | null | undefined {
  const t = text.trim();
  if (t === "") return null;
  if (!/^\d{1,4}$/.test(t) || Number(t) > 4095) return undefined;
  return Number(t);
}

function badItems(list: string, ok: (s: string) => boolean): string[] {
  return splitList(list).filter((x) => !ok(x));
}

const quoted = (xs: string[]) => xs.map((x) => `“${x}”`).join(", ");

/** Field → plain-language problem; empty when the form may be sent. */
export function validateRule(f: RuleForm): Record<string, string> {
  const errors: Record<string, string> = {};
  const name = f.name.trim();
  if (!name) errors.name = "Give the rule a name.";
  else if (name.length > 100) errors.name = "Use at most 100 characters.";

  const protocol = parseProtocol(f.protocol);
  const known = (NAMED_PROTOCOLS as readonly string[]).includes(protocol) || (/^\d+$/.test(protocol) && Number(protocol) <= 255);
  if (!known) errors.protocol = "Use any, tcp, udp, icmp, icmpv6 or a protocol number from 0 to 255.";

  for (const [field, text] of [["src", f.src], ["dst", f.dst]] as const) {
    const bad = badItems(text, isCidr);
    if (bad.length) {
      errors[field] = `${quoted(bad)} ${bad.length === 1 ? "is not an IP address or network" : "are not IP addresses or networks"}. Use a form like 10.0.0.0/8, 192.168.1.10 or 2001:db8::/32.`;
    }
  }
  for (const [field, text] of [["src_ports", f.srcPorts], ["dst_ports", f.dstPorts]] as const) {
    const bad = badItems(text, isPortRange);
    if (bad.length) {
      errors[field] = `${quoted(bad)} ${bad.length === 1 ? "is not a port or port range" : "are not ports or port ranges"}. Use a port from 1 to 65535 (443) or a range (1000-2000).`;
    } else if (splitList(text).length && known && !PORT_PROTOCOLS.has(protocol)) {
      errors[field] = `Ports only apply to tcp, udp or any, not ${protocol}. Clear the ports or change the protocol.`;
    }
  }
  if (parseVlan(f.vlan) === undefined) errors.vlan = "A VLAN is a number from 0 to 4095; leave it empty to match any VLAN.";
  return errors;
}
