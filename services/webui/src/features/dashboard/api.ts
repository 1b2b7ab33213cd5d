import { useQuery } from "@tanstack/react-query";
import { api, type Envelope } from "../../lib/api-client";

export interface StatsSummary {
  packets_per_second: number;
  packets_total: number;
  bytes_total: number;
  /** allow and drop at least; packet-service may add e.g. malformed. */
  verdicts: Record<string, number>;
  parse_errors: Record<string, number>;
  flows_active: number;
  ruleset_version: number;
  stale: boolean;
  age_seconds: number;
}

export interface Flow {
  vlan: number | null;
  src: string;
  dst: string;
  src_port: number | null;
  dst_port: number | null;
  protocol: string | number;
  packets: number;
  bytes: number;
  first_seen: string | number;
  last_seen: string | number;
  tcp_flags: string | number;
}

export interface RuleHits {
  rule_id: string;
  name: string;
  hits: number;
}

export const REFRESH_MS = 3000;

export function useStatsSummary() {
  return useQuery({
    queryKey: ["stats", "summary"],
    queryFn: async () => {
      const res = await api.get<Envelope<StatsSummary>>("/stats/summary");
      // Staleness travels in meta (the backend) or in the data (the contract): accept both.
      const meta = (res.data.meta ?? {}) as Partial<Pick<StatsSummary, "stale" | "age_seconds">>;
      const data = res.data.data;
      return { ...data, stale: meta.stale ?? data.stale ?? false, age_seconds: meta.age_seconds ?? data.age_seconds ?? 0 };
    },
    refetchInterval: REFRESH_MS,
    retry: false,
  });
}

export function useTopFlows(orderBy: "packets" | "bytes") {
  return useQuery({
    queryKey: ["stats", "flows", orderBy],
    queryFn: async () => {
      const res = await api.get<Envelope<Flow[]> & { stale?: boolean }>("/stats/flows/top", { params: { n: 10, order_by: orderBy } });
      return res.data.data;
    },
    refetchInterval: REFRESH_MS,
    retry: false,
  });
}

export function useRuleHits() {
  return useQuery({
    queryKey: ["stats", "rules"],
    queryFn: async () => (await api.get<Envelope<RuleHits[]>>("/stats/rules")).data.data,
    refetchInterval: REFRESH_MS,
    retry: false,
  });
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(Math.round(n));
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
