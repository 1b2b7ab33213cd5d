import { useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Alert } from "../../components/Alert";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { Pagination } from "../../components/Pagination";
import { getData, getPage } from "../../lib/api-client";
import { toApiError } from "../../lib/api-error";
import { formatWhen } from "../../lib/format";

interface AuditEntry {
  id: number | string;
  event: string;
  actor_id: number | string | null;
  actor_email: string | null;
  target: string | null;
  ip: string | null;
  details: Record<string, unknown> | null;
  created_at: string;
}

export default function AuditPage() {
  const [page, setPage] = useState(1);
  const [event, setEvent] = useState("");
  const perPage = 25;
  const events = useQuery({ queryKey: ["audit-events"], queryFn: () => getData<string[]>("/audit/events"), staleTime: 300_000 });
  const entries = useQuery({
    queryKey: ["audit", { page, event }],
    queryFn: () => getPage<AuditEntry[]>("/audit", { page, per_page: perPage, ...(event ? { event } : {}) }),
    placeholderData: keepPreviousData,
  });
  const total = Number(entries.data?.meta?.total ?? entries.data?.data.length ?? 0);
  return (
    <>
      <PageHeader title="Audit log" />
      <div className="card mb-4 max-w-sm">
        <label htmlFor="audit-event" className="label">Event type</label>
        <select id="audit-event" className="input" value={event} onChange={(e) => { setEvent(e.target.value); setPage(1); }}>
          <option value="">All events</option>
          {events.data?.map((e) => <option key={e} value={e}>{e}</option>)}
        </select>
      </div>
      {entries.isLoading ? <Loading /> : entries.isError ? <Alert>{toApiError(entries.error).message}</Alert> : (
        <div className="card overflow-x-auto p-0">
          <table className="table">
            <caption className="sr-only">Audit log entries</caption>
            <thead>
              <tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Actor</th><th scope="col">Target</th><th scope="col">IP</th><th scope="col">Details</th></tr>
            </thead>
            <tbody>
              {entries.data?.data.map((a) => (
                <tr key={a.id}>
                  <td className="whitespace-nowrap">{formatWhen(a.created_at)}</td>
                  <td><code className="text-sky-200">{a.event}</code></td>
                  <td>{a.actor_email ?? a.actor_id ?? "—"}</td>
                  <td>{a.target ?? "—"}</td>
                  <td>{a.ip ?? "—"}</td>
                  <td className="max-w-xs break-words font-mono text-xs">{a.details && Object.keys(a.details).length ? JSON.stringify(a.details) : "—"}</td>
                </tr>
              ))}
              {entries.data?.data.length === 0 && <tr><td colSpan={6} className="muted">No entries.</td></tr>}
            </tbody>
          </table>
        </div>
      )}
      {entries.data && <Pagination page={page} perPage={perPage} total={total} onPage={setPage} />}
    </>
  );
}
