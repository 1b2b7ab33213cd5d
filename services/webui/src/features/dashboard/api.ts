import { useMemo } from "react";
import { useSearchParams } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, type Envelope } from "../../lib/api-client";
import type { components } from "../../lib/api-schema.gen";

type Schemas = components["schemas"];

/** Per second, from packet-service's per-second history (the same for every viewer). */
export type Rates = Schemas["StatsRatesOut"];
/** The summary with its freshness, which the API sends in `meta`. */
export type StatsSummary = Schemas["StatsSummaryOut"] & Pick<Schemas["StaleMeta"], "stale" | "age_seconds">;
export type Flow = Schemas["FlowOut"];

export interface FlowsPage {
  flows: Flow[];
  flowsActive: number | null;
  nextPageToken: string | null;
}

export type RuleHits = Schemas["RuleHitsOut"];

export interface RuleHitsAnswer {
  rules: RuleHits[];
  /** The rule set whose load restarted the counters, and when (Unix seconds). */
  rulesetVersion: number | null;
  since: number | null;
}

/** The metrics the series API accepts (its `metric` parameter). */
export type Metric = "packets" | "bytes" | "bytes_wire" | "allow" | "drop" | "malformed" | "parse_errors" | "rule_hits";
export type SeriesLine = Schemas["SeriesLineOut"];
export type Series = Schemas["SeriesOut"];
export type SeriesTarget = Schemas["SeriesTargetOut"];

export interface SeriesAnswer extends Series {
  staleTargets: SeriesTarget[];
}

export const REFRESH_MS = 3000;

/** The ranges the picker offers; the server accepts any number of seconds as well. */
export const RANGES = [
  { id: "5m", label: "5 m", seconds: 300 },
  { id: "15m", label: "15 m", seconds: 900 },
  { id: "1h", label: "1 h", seconds: 3600 },
  { id: "6h", label: "6 h", seconds: 21600 },
  { id: "24h", label: "24 h", seconds: 86400 },
] as const;
export type RangeId = (typeof RANGES)[number]["id"];

/** The dashboard's filter: one rule set's sensors, or one sensor (?ruleset= / ?sensor= in the URL). */
export interface StatsFilter {
  ruleset_id?: number;
  sensor_id?: number;
}

const positive = (v: string | null): number | undefined => {
  const n = Number(v);
  return v !== null && Number.isInteger(n) && n > 0 ? n : undefined;
};

/** The filter from the URL, as the stats API's query parameters (absent = every sensor the caller may see). */
export function useStatsFilter(): StatsFilter {
  const [params] = useSearchParams();
  const ruleset = positive(params.get("ruleset"));
  const sensor = positive(params.get("sensor"));
  return useMemo(() => {
    const f: StatsFilter = {};
    if (ruleset !== undefined) f.ruleset_id = ruleset;
    if (sensor !== undefined) f.sensor_id = sensor;
    return f;
  }, [ruleset, sensor]);
}

export function useStatsSummary() {
  const filter = useStatsFilter();
  return useQuery({
    queryKey: ["stats", "summary", filter],
    queryFn: async () => {
      const res = await api.get<Envelope<StatsSummary>>("/stats/summary", { params: filter });
      // Staleness travels in meta (the backend) or in the data (the contract): accept both.
      const meta = (res.data.meta ?? {}) as Partial<Pick<StatsSummary, "stale" | "age_seconds">>;
      const data = res.data.data;
      return { ...data, stale: meta.stale ?? data.stale ?? false, age_seconds: meta.age_seconds ?? data.age_seconds ?? 0 };
    },
    refetchInterval: REFRESH_MS,
    retry: false,
  });
}

/**
 * A window of counters from the server's history. Nothing is accumulated in the browser:
 * every refresh replaces the whole window with what the server holds.
 */
export function useStatsSeries(metrics: Metric[], range: RangeId) {
  const filter = useStatsFilter();
  return useQuery({
    queryKey: ["stats", "series", metrics.join(","), range, filter],
    queryFn: async (): Promise<SeriesAnswer> => {
      const res = await api.get<Envelope<Series>>("/stats/series", { params: { metric: metrics.join(","), range, ...filter } });
      const targets = ((res.data.meta ?? {}) as Partial<Schemas["SeriesMeta"]>).targets ?? [];
      return { ...res.data.data, staleTargets: targets.filter((t) => t.stale) };
    },
    refetchInterval: REFRESH_MS,
    placeholderData: keepPreviousData,
    retry: false,
  });
}

/** Per-second rates of one metric of a series: the increase per step over the step. */
export function ratesOf(series: Series | undefined, metric: Metric): (number | null)[] {
  const line = series?.series.find((s) => s.metric === metric);
  if (!series || !line) return [];
  return line.values.map((v) => (v === null ? null : v / series.step_seconds));
}

/** The start of every step, in Unix seconds: the chart's x values. */
export function stepTimes(series: Series | undefined): number[] {
  if (!series) return [];
  return Array.from({ length: series.points }, (_, i) => series.start + i * series.step_seconds);
}

export const FLOWS_PER_PAGE = 10;

export function useTopFlows(orderBy: "packets" | "bytes", pageToken: string | null) {
  const filter = useStatsFilter();
  return useQuery({
    queryKey: ["stats", "flows", orderBy, pageToken, filter],
    queryFn: async (): Promise<FlowsPage> => {
      const params: Record<string, string | number> = { n: FLOWS_PER_PAGE, order_by: orderBy, ...filter };
      if (pageToken) params.page_token = pageToken;
      const res = await api.get<Envelope<Flow[]>>("/stats/flows/top", { params });
      const meta = (res.data.meta ?? {}) as Partial<Schemas["FlowsMeta"]>;
      return { flows: res.data.data, flowsActive: meta.flows_active ?? null, nextPageToken: meta.next_page_token ?? null };
    },
    refetchInterval: REFRESH_MS,
    placeholderData: keepPreviousData,
    retry: false,
  });
}

export function useRuleHits() {
  const filter = useStatsFilter();
  return useQuery({
    queryKey: ["stats", "rules", filter],
    queryFn: async (): Promise<RuleHitsAnswer> => {
      const res = await api.get<Envelope<RuleHits[]>>("/stats/rules", { params: filter });
      const meta = (res.data.meta ?? {}) as Partial<Schemas["RuleHitsMeta"]>;
      return { rules: res.data.data, rulesetVersion: meta.ruleset_version ?? null, since: meta.since ?? null };
    },
    refetchInterval: REFRESH_MS,
    retry: false,
  });
}
