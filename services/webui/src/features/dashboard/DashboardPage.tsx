import { useEffect, useState } from "react";
import { AlertTriangle } from "lucide-react";
import { Alert } from "../../components/Alert";
import { PageHeader } from "../../components/PageHeader";
import { Tabs } from "../../components/Tabs";
import { toApiError } from "../../lib/api-error";
import { protocolName } from "../../lib/format";
import { formatBytes, formatCount, useRuleHits, useStatsSummary, useTopFlows, type StatsSummary } from "./api";
import { PpsChart } from "./PpsChart";

const HISTORY = 120; // points kept for the chart: 6 minutes at one sample per 3 s

/** Keeps a rolling window of packets/s samples, one per distinct summary received. */
function usePpsHistory(summary: StatsSummary | undefined, updatedAt: number) {
  const [series, setSeries] = useState<{ t: number[]; v: number[] }>({ t: [], v: [] });
  useEffect(() => {
    if (!summary || !updatedAt) return;
    setSeries((s) => ({
      t: [...s.t, updatedAt / 1000].slice(-HISTORY),
      v: [...s.v, summary.packets_per_second].slice(-HISTORY),
    }));
  }, [summary, updatedAt]);
  return series;
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="card">
      <p className="text-xs uppercase tracking-wide text-amber-200">{label}</p>
      <p className="mt-1 text-2xl font-semibold text-amber-50">{value}</p>
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
      <h2 id="verdicts-title" className="mb-3 text-lg">Verdicts</h2>
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

function TopFlows() {
  const [orderBy, setOrderBy] = useState<"packets" | "bytes">("packets");
  const flows = useTopFlows(orderBy);
  return (
    <section className="card overflow-x-auto" aria-labelledby="flows-title">
      <div className="mb-2 flex flex-wrap items-center justify-between gap-2">
        <h2 id="flows-title" className="text-lg">Top flows</h2>
        <label className="flex items-center gap-2 text-sm">
          Order by
          <select className="input w-auto py-1" value={orderBy} onChange={(e) => setOrderBy(e.target.value as "packets" | "bytes")}>
            <option value="packets">packets</option>
            <option value="bytes">bytes</option>
          </select>
        </label>
      </div>
      {flows.isError ? <p className="text-sm muted">{toApiError(flows.error).message}</p> : (
        <table className="table">
          <thead><tr><th scope="col">Source</th><th scope="col">Destination</th><th scope="col">Proto</th><th scope="col">VLAN</th><th scope="col">Packets</th><th scope="col">Bytes</th></tr></thead>
          <tbody>
            {flows.data?.map((f, i) => (
              <tr key={i}>
                <td className="font-mono text-xs">{f.src}{f.src_port != null ? `:${f.src_port}` : ""}</td>
                <td className="font-mono text-xs">{f.dst}{f.dst_port != null ? `:${f.dst_port}` : ""}</td>
                <td>{protocolName(f.protocol)}</td>
                <td>{f.vlan ?? "—"}</td>
                <td>{formatCount(f.packets)}</td>
                <td>{formatBytes(f.bytes)}</td>
              </tr>
            ))}
            {flows.data?.length === 0 && <tr><td colSpan={6} className="muted">No flows yet.</td></tr>}
          </tbody>
        </table>
      )}
    </section>
  );
}

function RuleHitsTable() {
  const hits = useRuleHits();
  const max = Math.max(1, ...(hits.data?.map((h) => h.hits) ?? [0]));
  return (
    <section className="card" aria-labelledby="hits-title">
      <h2 id="hits-title" className="mb-2 text-lg">Rule hits</h2>
      {hits.isError ? <p className="text-sm muted">{toApiError(hits.error).message}</p> : (
        <ul className="space-y-2">
          {hits.data?.map((h) => (
            <li key={h.rule_id}>
              <div className="mb-1 flex justify-between text-sm"><span>{h.name}</span><span>{formatCount(h.hits)}</span></div>
              <div className="h-2 rounded bg-slate-800" aria-hidden><div className="h-2 rounded bg-sky-400" style={{ width: `${(h.hits / max) * 100}%` }} /></div>
            </li>
          ))}
          {hits.data?.length === 0 && <li className="text-sm muted">No rules have matched yet.</li>}
        </ul>
      )}
    </section>
  );
}

export default function DashboardPage() {
  const summary = useStatsSummary();
  const history = usePpsHistory(summary.data, summary.dataUpdatedAt);
  const [tab, setTab] = useState("overview");
  const s = summary.data;
  const err = summary.isError ? toApiError(summary.error) : null;

  const overview = (
    <div className="space-y-4">
      {s && (
        <div className="grid grid-cols-2 gap-3 lg:grid-cols-4">
          <Stat label="Packets / s" value={formatCount(s.packets_per_second)} />
          <Stat label="Packets total" value={formatCount(s.packets_total)} />
          <Stat label="Bytes total" value={formatBytes(s.bytes_total)} />
          <Stat label="Active flows" value={formatCount(s.flows_active)} />
        </div>
      )}
      <section className="card" aria-labelledby="pps-title">
        <h2 id="pps-title" className="mb-2 text-lg">Packets per second</h2>
        {history.t.length < 2 && <p className="text-sm muted">Waiting for samples… the chart fills in as statistics arrive.</p>}
        <PpsChart times={history.t} values={history.v} />
      </section>
      {s && <div className="grid gap-4 lg:grid-cols-2"><Verdicts s={s} /><RuleHitsTable /></div>}
    </div>
  );

  return (
    <>
      <PageHeader title="Dashboard">
        {s && <span className="text-sm">Rule set v{s.ruleset_version} · refreshes every 3 s</span>}
      </PageHeader>
      {s?.stale && (
        <div className="mb-4 flex items-center gap-2 rounded-md border border-yellow-400 bg-yellow-950 px-3 py-2 text-yellow-100" role="status" data-testid="stale-banner">
          <AlertTriangle aria-hidden className="h-5 w-5" />
          Statistics are stale since {new Date(Date.now() - s.age_seconds * 1000).toLocaleTimeString()} ({Math.round(s.age_seconds)} s without a fresh snapshot).
        </div>
      )}
      {err && (
        <div className="mb-4">
          <Alert tone={err.code === "upstream_unavailable" || err.status === 404 ? "warning" : "error"}>
            {err.code === "upstream_unavailable"
              ? "No statistics yet: the packet service has not reported a snapshot."
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
