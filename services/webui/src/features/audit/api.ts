import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, getData, getPage } from "../../lib/api-client";
import type { components } from "../../lib/api-schema.gen";

/** One audit record; `target_label` is the target as a person reads it (an e-mail, a rule's name). */
export type AuditEntry = components["schemas"]["AuditOut"];

/** The filters GET /audit and GET /audit/export share (URL values, not yet API values). */
export interface AuditFilters {
  event: string;
  actor: string;
  target: string;
  from: string; // YYYY-MM-DD, a local day
  to: string;
  q: string;
  sort: string;
}

/** A local calendar day as the instant it starts (from) or ends (to), for the API. */
export function dayBound(day: string, end: boolean): string | undefined {
  const m = day.match(/^(\d{4})-(\d{2})-(\d{2})$/);
  if (!m) return undefined;
  const start = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (end ? 1 : 0));
  return new Date(start.getTime() - (end ? 1 : 0)).toISOString();
}

export function auditParams(f: AuditFilters): Record<string, string> {
  const params: Record<string, string> = {};
  for (const key of ["event", "actor", "target", "q"] as const) if (f[key].trim()) params[key] = f[key].trim();
  const from = dayBound(f.from, false);
  const to = dayBound(f.to, true);
  if (from) params.from = from;
  if (to) params.to = to;
  if (f.sort && f.sort !== "-created_at") params.sort = f.sort;
  return params;
}

export function useAuditEvents() {
  return useQuery({ queryKey: ["audit-events"], queryFn: () => getData<string[]>("/audit/events"), staleTime: 300_000 });
}

export function useAudit(filters: AuditFilters, page: number, perPage: number) {
  return useQuery({
    queryKey: ["audit", filters, page, perPage],
    queryFn: () => getPage<AuditEntry[]>("/audit", { ...auditParams(filters), page, per_page: perPage }),
    placeholderData: keepPreviousData,
  });
}

/**
 * Downloads the server's CSV of everything the filters select. Fetched with the session's
 * bearer token (a plain link would carry none), then handed to the browser as a file.
 */
export async function downloadAuditCsv(filters: AuditFilters): Promise<void> {
  const res = await api.get<Blob>("/audit/export", { params: auditParams(filters), responseType: "blob" });
  const disposition = String(res.headers["content-disposition"] ?? "");
  const name = disposition.match(/filename="([^"]+)"/)?.[1] ?? "rookery-audit.csv";
  if (typeof URL.createObjectURL !== "function") return; // no downloads outside a browser
  const url = URL.createObjectURL(res.data);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
