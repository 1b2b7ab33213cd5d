import { useState } from "react";
import { useSearchParams } from "react-router";
import { AlertTriangle } from "lucide-react";
import { Alert } from "../../components/Alert";
import { PageHeader } from "../../components/PageHeader";
import { Tabs } from "../../components/Tabs";
import { toApiError } from "../../lib/api-error";
import { DEFAULT_RULESET, useRuleSets, useSensors } from "../../lib/tenancy";
import { formatWhen, protocolName } from "../../lib/format";
import {
  RANGES, ratesOf, stepTimes, useRuleHits, useStatsSeries, useStatsSummary, useTopFlows,
  type Metric, type RangeId, type StatsSummary,
} from "./api";
import { formatBytes, formatCount, formatSpan } from "./format";
import { SeriesChart } from "./SeriesChart";

const SERIES_METRICS: Metric[] = ["allow", "drop", "malformed", "bytes_wire", "bytes"];
const COLORS = { allow: "#34d399", drop: "#f87171", malformed: "#facc15", wire: "#38bdf8", captured: "#a78bfa" };

function Stat({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div className="card">
      <p className="text-xs uppercase tracking-wide text-amber-200">{label}</p>
      <p className="mt-1 text-2xl font-semibold text-amber-50">{value}</p>
      {/* Always a line, so a hint arriving with the first answer does not grow the card. */}
      <p className="mt-1 text-xs muted">{hint ?? "\u00a0"}</p>
    </div>
  );
}

const VERDICT_TONES: Record<string, string> = { allow: "bg-emerald-400", drop: "bg-red-400" };

function Verdicts({ s }: { s: StatsSummary }) {
  const rows = Object.entries(s.verdicts ?? {}).map(([label, n]) => ({ label, n, tone: VERDICT_TONES[label] ?? "bg-yellow-400" }));
  const total = rows.reduce((sum, r) => sum + r.n, 0) || 1;
  // Only the reasons that occurred: packet-service reports every reason it knows, mostly 0.
  const errors = Object.entries(s.parse_errors ?? {}).filter(([, n]) => n > 0);
  return (
    <section className="card" aria-labelledby="verdicts-title">
      <h2 id="verdicts-title" className="mb-3 text-lg">Verdicts since start</h2>
      <ul className="space-y-2">
        {rows.map((r) => (
          <li key={r.label}>
            <div className="mb-1 flex justify-between text-sm"><span>{r.label}</span><span>{formatCount(r.n)} ({((r.n / total) * 100).toFixed(1)}%)</span></div>
            <div className="h-2 rounded bg-slate-800" aria-hidden>
              <div className={`h-2 rounded ${r.tone}`} style={{ width: `${(r.n / total) * 100}%` }} />
            </div>
          </li>
        ))}
      </ul>
      <h3 className="mb-1 mt-4 text-sm">Parse errors</h3>
      {errors.length ? (
        <ul className="text-sm">{errors.map(([k, v]) => <li key={k}><code>{k}</code>: {formatCount(v)}</li>)}</ul>
      ) : <p className="text-sm muted">None</p>}
    </section>
  );
}

function RangePicker({ value, onChange }: { value: RangeId; onChange: (id: RangeId) => void }) {
  return (
    <div role="radiogroup" aria-label="Time range" className="flex gap-1">
      {RANGES.map((r) => (
        <button
          key={r.id}
          type="button"
          role="radio"
          aria-checked={r.id === value}
          className={`${r.id === value ? "btn-primary" : "btn-secondary"} px-2 py-1`}
          onClick={() => onChange(r.id)}
        >
          {r.label}
        </button>
      ))}
    </div>
  );
}

/** Two charts with their headings, notes and legends (px): reserved while loading. */
const CHARTS_HEIGHT = 2 * (20 + 220 + 36) + 40;

/** Charts of the server's history over the chosen range: rates by verdict, wire bytes. */
function Traffic() {
  const [params, setParams] = useSearchParams();
  const range = (RANGES.find((r) => r.id === params.get("range"))?.id ?? "15m") as RangeId;
  const series = useStatsSeries(SERIES_METRICS, range);
  const s = series.data;
  const times = stepTimes(s);
  const start = s?.start ?? 0;
  const end = s ? s.start + s.points * s.step_seconds : 0;
  const uncovered = s?.history_start && s.history_start > start ? s.history_start : null;
  const setRange = (id: RangeId) => setParams((p) => { p.set("range", id); return p; }, { replace: true });
  return (
    <section className="card space-y-4" aria-labelledby="traffic-title">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id="traffic-title" className="text-lg">Traffic</h2>
        <RangePicker value={range} onChange={setRange} />
      </div>
      {series.isError && <p className="text-sm muted">{toApiError(series.error).message}</p>}
      {/* Room for the two charts while the first series loads: no layout shift. */}
      {!s && !series.isError && <div aria-hidden style={{ minHeight: CHARTS_HEIGHT }} />}
      {s && (
        <>
          {/* Short lines of their own: a paragraph that wraps late would be the page's
              largest text, and its late paint the phone's LCP. */}
          <p className="text-xs muted">{s.step_seconds} s per point · from {s.source}</p>
          {uncovered && (
            <p className="text-xs muted">
              The history holds the last {formatSpan(end - uncovered)}; earlier steps are empty.
            </p>
          )}
          {s.staleTargets.length > 0 && (
            <Alert tone="warning">
              Not answering, last known values shown: {s.staleTargets.map((t) => `${t.target} (${t.error ?? "unreachable"})`).join("; ")}
            </Alert>
          )}
          <div>
            <h3 className="mb-1 text-sm">Packets per second by verdict</h3>
            <SeriesChart
              label="Packets per second by verdict"
              times={times}
              start={start}
              end={end}
              formatValue={(v) => `${formatCount(v)}/s`}
              lines={[
                { label: "allow", color: COLORS.allow, values: ratesOf(s, "allow") },
                { label: "drop", color: COLORS.drop, values: ratesOf(s, "drop") },
                { label: "malformed", color: COLORS.malformed, values: ratesOf(s, "malformed") },
              ]}
            />
          </div>
          <div>
            <h3 className="mb-1 text-sm">Bytes per second</h3>
            <SeriesChart
              label="Bytes per second"
              times={times}
              start={start}
              end={end}
              formatValue={(v) => `${formatBytes(v)}/s`}
              binary
              lines={[
                { label: "on the wire", color: COLORS.wire, values: ratesOf(s, "bytes_wire") },
                { label: "captured", color: COLORS.captured, values: ratesOf(s, "bytes") },
              ]}
            />
          </div>
        </>
      )}
    </section>
  );
}

function TopFlows() {
  const [orderBy, setOrderBy] = useState<"packets" | "bytes">("packets");
  // Tokens of the pages before the current one: the server hands out the next one.
  const [pages, setPages] = useState<string[]>([]);
  const token = pages.at(-1) ?? null;
  const flows = useTopFlows(orderBy, token);
  const page = flows.data;
  return (
    <section className="card overflow-x-auto" aria-labelledby="flows-title">
      <div className="mb-2 flex flex-wrap items-center justify-between gap-2">
        <h2 id="flows-title" className="text-lg">Top flows</h2>
        <label className="flex items-center gap-2 text-sm">
          Order by
          <select className="input w-auto py-1" value={orderBy} onChange={(e) => { setOrderBy(e.target.value as "packets" | "bytes"); setPages([]); }}>
            <option value="packets">packets</option>
            <option value="bytes">bytes</option>
          </select>
        </label>
      </div>
      {flows.isError ? <p className="text-sm muted">{toApiError(flows.error).message}</p> : (
        <>
          <table className="table">
            <thead><tr><th scope="col">Source</th><th scope="col">Destination</th><th scope="col">Proto</th><th scope="col">VLAN</th><th scope="col">Packets</th><th scope="col">Bytes</th></tr></thead>
            <tbody>
              {page?.flows.map((f, i) => (
                <tr key={i}>
                  <td className="font-mono text-xs">{f.src}{f.src_port != null ? `:${f.src_port}` : ""}</td>
                  <td className="font-mono text-xs">{f.dst}{f.dst_port != null ? `:${f.dst_port}` : ""}</td>
                  <td>{protocolName(f.protocol)}</td>
                  <td>{f.vlan ?? "—"}</td>
                  <td>{formatCount(f.packets)}</td>
                  <td>{formatBytes(f.bytes)}</td>
                </tr>
              ))}
              {page?.flows.length === 0 && <tr><td colSpan={6} className="muted">No flows yet.</td></tr>}
            </tbody>
          </table>
          <div className="mt-2 flex items-center justify-between gap-2 text-sm">
            <span className="muted">{page?.flowsActive != null && `${formatCount(page.flowsActive)} active flows · page ${pages.length + 1}`}</span>
            <span className="flex gap-2">
              <button type="button" className="btn-secondary px-2 py-1" disabled={!pages.length} onClick={() => setPages((p) => p.slice(0, -1))}>Previous</button>
              <button type="button" className="btn-secondary px-2 py-1" disabled={!page?.nextPageToken} onClick={() => page?.nextPageToken && setPages((p) => [...p, page.nextPageToken!])}>Next</button>
            </span>
          </div>
        </>
      )}
    </section>
  );
}

function RuleHitsTable() {
  const hits = useRuleHits();
  const rules = hits.data?.rules ?? [];
  const max = Math.max(1, ...rules.map((h) => h.hits));
  const version = hits.data?.rulesetVersion;
  return (
    <section className="card" aria-labelledby="hits-title">
      <h2 id="hits-title" className="mb-1 text-lg">Rule hits</h2>
      {version != null && (
        <p className="mb-2 text-xs muted" data-testid="hits-since">
          since rule set v{version}{hits.data?.since ? ` (loaded ${formatWhen(hits.data.since)})` : ""}
        </p>
      )}
      {hits.isError ? <p className="text-sm muted">{toApiError(hits.error).message}</p> : (
        <ul className="space-y-2">
          {rules.map((h) => (
            <li key={h.rule_id}>
              <div className="mb-1 flex justify-between text-sm"><span>{h.name}</span><span>{formatCount(h.hits)}</span></div>
              <div className="h-2 rounded bg-slate-800" aria-hidden><div className="h-2 rounded bg-sky-400" style={{ width: `${(h.hits / max) * 100}%` }} /></div>
            </li>
          ))}
          {hits.data && rules.length === 0 && <li className="text-sm muted">No rules have matched yet.</li>}
        </ul>
      )}
    </section>
  );
}

/**
 * Narrows every statistic to one rule set's sensors or to one sensor (kept in ?ruleset= and
 * ?sensor=). The lists are what the caller may see; without a choice the server counts every
 * sensor the caller may see.
 */
function StatsFilterBar() {
  const [params, setParams] = useSearchParams();
  const sets = useRuleSets();
  const sensors = useSensors();
  const ruleset = params.get("ruleset") ?? "";
  const sensor = params.get("sensor") ?? "";
  const setList = sets.data ?? [];
  const sensorList = (sensors.data ?? []).filter((s) => !ruleset || String(s.ruleset_id) === ruleset);
  if (setList.length === 0 && sensorList.length === 0) return null;
  const set = (key: "ruleset" | "sensor", value: string) =>
    setParams((p) => {
      if (value) p.set(key, value);
      else p.delete(key);
      // A sensor belongs to one rule set: a new rule set clears the sensor choice.
      if (key === "ruleset") p.delete("sensor");
      return p;
    }, { replace: true });
  return (
    <div className="mb-4 flex flex-wrap items-end gap-3" role="group" aria-label="Statistics filter">
      {setList.length > 0 && (
        <div>
          <label htmlFor="stats-ruleset" className="label">Rule set</label>
          <select id="stats-ruleset" className="input w-auto" value={ruleset} onChange={(e) => set("ruleset", e.target.value)}>
            <option value="">Every rule set</option>
            {setList.map((s) => <option key={s.id} value={s.id}>{s.name}{s.id === DEFAULT_RULESET ? " (default)" : ""}</option>)}
          </select>
        </div>
      )}
      {sensorList.length > 0 && (
        <div>
          <label htmlFor="stats-sensor" className="label">Sensor</label>
          <select id="stats-sensor" className="input w-auto" value={sensor} onChange={(e) => set("sensor", e.target.value)}>
            <option value="">Every sensor</option>
            {sensorList.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
          </select>
        </div>
      )}
    </div>
  );
}

export default function DashboardPage() {
  const summary = useStatsSummary();
  const [tab, setTab] = useState("overview");
  const s = summary.data;
  const err = summary.isError ? toApiError(summary.error) : null;
  const rates = s?.rates;

  const overview = (
    <div className="space-y-4">
      {/* The cards are drawn before the first answer (with a dash), so nothing below
          them jumps when it arrives. */}
      {!err && (
        <div className="grid grid-cols-2 gap-3 lg:grid-cols-4">
          <Stat
            label="Packets / s"
            value={s ? formatCount(rates?.packets ?? s.packets_per_second) : "—"}
            hint={s?.rate_window_seconds ? `mean of the last ${s.rate_window_seconds} s` : undefined}
          />
          <Stat label="Packets total" value={s ? formatCount(s.packets_total) : "—"} />
          <Stat
            label="Bytes on the wire"
            value={s ? formatBytes(s.bytes_wire_total ?? s.bytes_total) : "—"}
            hint={rates ? `${formatBytes(rates.bytes_wire)}/s now` : undefined}
          />
          <Stat label="Active flows" value={s ? formatCount(s.flows_active) : "—"} />
        </div>
      )}
      <Traffic />
      {s && <div className="grid gap-4 lg:grid-cols-2"><Verdicts s={s} /><RuleHitsTable /></div>}
    </div>
  );

  return (
    <>
      <PageHeader title="Dashboard">
        <span className="text-sm muted">Live traffic through packet-service, refreshed every 3 s</span>
        {s && <span className="text-sm">Rule set v{s.ruleset_version}</span>}
      </PageHeader>
      <StatsFilterBar />
      {s?.stale && (
        <div className="mb-4 flex items-center gap-2 rounded-md border border-yellow-400 bg-yellow-950 px-3 py-2 text-yellow-100" role="status" data-testid="stale-banner">
          <AlertTriangle aria-hidden className="h-5 w-5" />
          Statistics are stale since {new Date(summary.dataUpdatedAt - s.age_seconds * 1000).toLocaleTimeString()} ({Math.round(s.age_seconds)} s without a fresh snapshot).
        </div>
      )}
      {err && (
        <div className="mb-4">
          <Alert tone={err.code === "upstream_unavailable" || err.status === 404 ? "warning" : "error"}>
            {err.code === "upstream_unavailable"
              ? `No statistics yet: the packet service does not answer (${err.message}).`
              : err.status === 404
                ? "This backend does not offer packet statistics yet."
                : err.message}
          </Alert>
        </div>
      )}
      <Tabs
        label="Dashboard sections"
        active={tab}
        onChange={setTab}
        tabs={[
          { id: "overview", label: "Overview", content: overview },
          { id: "flows", label: "Top flows", content: <TopFlows /> },
        ]}
      />
    </>
  );
}
