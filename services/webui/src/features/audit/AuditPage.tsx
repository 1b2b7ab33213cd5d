import { useState, type ChangeEvent } from "react";
import { Download } from "lucide-react";
import { Alert } from "../../components/Alert";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { Pagination } from "../../components/Pagination";
import { SortHeader } from "../../components/SortHeader";
import { toast } from "../../components/Toast";
import { toApiError } from "../../lib/api-error";
import { formatWhen } from "../../lib/format";
import { useDebounced } from "../../lib/use-debounced";
import { intParam, useUrlState } from "../../lib/use-url-state";
import { downloadAuditCsv, useAudit, useAuditEvents, type AuditEntry, type AuditFilters } from "./api";

const AUDIT_VIEW = { event: "", actor: "", target: "", from: "", to: "", q: "", sort: "-created_at", page: "1", per: "25" };
const PER_PAGE = [10, 25, 50, 100] as const;

const show = (v: unknown) => (Array.isArray(v) ? `[${v.join(", ")}]` : v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));

/** The details of an entry as short lines: what changed from what to what, then the rest. */
export function describeDetails(details: AuditEntry["details"] | null): string[] {
  if (!details) return [];
  const lines: string[] = [];
  const { changes, fields, ...rest } = details as { changes?: Record<string, { from: unknown; to: unknown }>; fields?: unknown } & Record<string, unknown>;
  if (changes && typeof changes === "object") {
    for (const [field, c] of Object.entries(changes)) lines.push(`${field}: ${show(c?.from)} → ${show(c?.to)}`);
  } else if (Array.isArray(fields)) {
    lines.push(`changed: ${fields.join(", ")}`);
  }
  for (const [k, v] of Object.entries(rest)) lines.push(`${k}: ${show(v)}`);
  return lines;
}

export default function AuditPage() {
  const [view, setView] = useUrlState(AUDIT_VIEW);
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<string | null>(null);
  const perPage = intParam(view.per, 25, PER_PAGE);
  const page = intParam(view.page, 1);
  // Typed filters ask the server once typing pauses.
  const actor = useDebounced(view.actor);
  const target = useDebounced(view.target);
  const q = useDebounced(view.q);
  const filters: AuditFilters = { event: view.event, actor, target, from: view.from, to: view.to, q, sort: view.sort };
  const events = useAuditEvents();
  const entries = useAudit(filters, page, perPage);
  const total = Number(entries.data?.meta?.total ?? entries.data?.data.length ?? 0);
  const filtered = ["event", "actor", "target", "from", "to", "q"].some((k) => view[k as keyof typeof view] !== "");
  const text = (key: "actor" | "target" | "q") => ({
    value: view[key],
    onChange: (e: ChangeEvent<HTMLInputElement>) => setView({ [key]: e.target.value, page: "1" }, { replace: true }),
  });
  const onSort = (sort: string) => setView({ sort, page: "1" });

  async function exportCsv() {
    setExporting(true);
    setExportError(null);
    try {
      await downloadAuditCsv(filters);
      toast(filtered ? "Exported the filtered audit log as CSV" : "Exported the audit log as CSV");
    } catch (err) {
      setExportError(toApiError(err).message);
    } finally {
      setExporting(false);
    }
  }

  return (
    <>
      <PageHeader title="Audit log">
        <button type="button" className="btn-secondary" onClick={exportCsv} disabled={exporting}>
          <Download aria-hidden className="h-4 w-4" /> {exporting ? "Exporting…" : "Export CSV"}
        </button>
      </PageHeader>
      <form role="search" aria-label="Filter the audit log" className="card mb-4 grid gap-3 sm:grid-cols-2 lg:grid-cols-3" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label htmlFor="audit-event" className="label">Event type</label>
          <select id="audit-event" className="input" value={view.event} onChange={(e) => setView({ event: e.target.value, page: "1" })}>
            <option value="">All events</option>
            {events.data?.map((e) => <option key={e} value={e}>{e}</option>)}
          </select>
        </div>
        <div>
          <label htmlFor="audit-actor" className="label">Actor</label>
          <input id="audit-actor" className="input" type="search" placeholder="e-mail or user id" {...text("actor")} />
        </div>
        <div>
          <label htmlFor="audit-target" className="label">Target</label>
          <input id="audit-target" className="input" type="search" placeholder="e-mail, rule name or user:7" {...text("target")} />
        </div>
        <div>
          <label htmlFor="audit-from" className="label">From</label>
          <input id="audit-from" className="input" type="date" value={view.from} max={view.to || undefined} onChange={(e) => setView({ from: e.target.value, page: "1" })} />
        </div>
        <div>
          <label htmlFor="audit-to" className="label">To</label>
          <input id="audit-to" className="input" type="date" value={view.to} min={view.from || undefined} onChange={(e) => setView({ to: e.target.value, page: "1" })} />
        </div>
        <div>
          <label htmlFor="audit-q" className="label">Search</label>
          <input id="audit-q" className="input" type="search" placeholder="any text in the entry" {...text("q")} />
        </div>
        {filtered && (
          <div className="sm:col-span-2 lg:col-span-3">
            <button type="button" className="btn-secondary" onClick={() => setView({ event: "", actor: "", target: "", from: "", to: "", q: "", page: "1" })}>
              Clear filters
            </button>
          </div>
        )}
      </form>
      {exportError && <div className="mb-3"><Alert>{exportError}</Alert></div>}
      {entries.isLoading ? <Loading /> : entries.isError ? <Alert>{toApiError(entries.error).message}</Alert> : (
        <div className="card table-scroll p-0">
          <table className="table">
            <caption className="sr-only">Audit log entries</caption>
            <thead>
              <tr>
                <SortHeader column="created_at" sort={view.sort} onSort={onSort}>Time</SortHeader>
                <SortHeader column="event" sort={view.sort} onSort={onSort}>Event</SortHeader>
                <SortHeader column="actor" sort={view.sort} onSort={onSort}>Actor</SortHeader>
                <th scope="col">Target</th><th scope="col">IP</th><th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {entries.data?.data.map((a) => {
                const lines = describeDetails(a.details);
                return (
                  <tr key={a.id} data-testid="audit-row">
                    <td className="whitespace-nowrap">{formatWhen(a.created_at)}</td>
                    <td><code className="text-amber-200">{a.event}</code></td>
                    <td className="break-all">{a.actor_email ?? a.actor_id ?? "—"}</td>
                    <td className="break-all">
                      {a.target_label ?? a.target ?? "—"}
                      {a.target_label && a.target && a.target_label !== a.target && <span className="block text-xs muted">{a.target}</span>}
                    </td>
                    <td>{a.ip ?? "—"}</td>
                    <td className="max-w-xs break-words font-mono text-xs">
                      {lines.length ? lines.map((l, i) => <span key={i} className="block">{l}</span>) : "—"}
                    </td>
                  </tr>
                );
              })}
              {entries.data?.data.length === 0 && <tr><td colSpan={6} className="muted">{filtered ? "No entries match the filters." : "No entries."}</td></tr>}
            </tbody>
          </table>
        </div>
      )}
      {entries.data && (
        <Pagination
          page={page}
          perPage={perPage}
          total={total}
          pageSizes={PER_PAGE}
          onPage={(p) => setView({ page: String(p) })}
          onPerPage={(n) => setView({ per: String(n), page: "1" })}
        />
      )}
    </>
  );
}
