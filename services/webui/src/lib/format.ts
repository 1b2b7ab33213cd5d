/**
 * A timestamp from the API as local date and time. Accepts ISO strings and Unix seconds
 * (packet-service and the rule publisher report floats); "—" for nothing.
 */
export function formatWhen(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

const PROTOCOLS: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6" };

/** IANA protocol number → its usual name, other numbers unchanged. */
export function protocolName(p: string | number): string {
  return typeof p === "number" ? PROTOCOLS[p] ?? String(p) : p;
}
