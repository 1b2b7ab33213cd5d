import { useCallback, useMemo, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Check, Copy, Plus, RotateCw, Trash2 } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { Field } from "../../components/Field";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { Pagination } from "../../components/Pagination";
import { SortHeader } from "../../components/SortHeader";
import { toast } from "../../components/Toast";
import { getData, send } from "../../lib/api-client";
import { toApiError } from "../../lib/api-error";
import { formatWhen } from "../../lib/format";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { PAGE_SCOPES } from "../../lib/permissions";
import { compareCells, useKeepRow } from "../../lib/use-keep-row";
import { intParam, useUrlState } from "../../lib/use-url-state";
import { ScopePicker } from "../../components/ScopePicker";
import { useScopeCatalogue } from "../../lib/access";
import { isProtectedAccount, protectedWarning } from "../../lib/api-error";
import { revokeKey, useKeyOwners, type ApiKey, type ApiKeyInput, type CreatedApiKey, type KeyOwner } from "./api";

const fmt = formatWhen;

/**
 * The secret, shown exactly once, with a copy button. Escape and a click outside do not
 * close it (the key would be lost for good): only "I have copied it" does.
 */
function KeyReveal({ apiKey, onClose }: { apiKey: CreatedApiKey; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <Dialog open title="Your new API key" onClose={onClose} dismissible={false}>
      <Alert tone="warning">Copy this key now. It will not be shown again.</Alert>
      <div className="my-3 flex items-center gap-2">
        <label htmlFor="new-key" className="sr-only">API key</label>
        <input id="new-key" readOnly value={apiKey.key} className="input font-mono text-xs" onFocus={(e) => e.currentTarget.select()} data-testid="new-api-key" />
        <button
          type="button"
          className="btn-secondary"
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(apiKey.key);
              setCopied(true);
            } catch {
              setCopied(false);
            }
          }}
        >
          {copied ? <Check aria-hidden className="h-4 w-4" /> : <Copy aria-hidden className="h-4 w-4" />}
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
      <div className="flex justify-end">
        <button type="button" className="btn-primary" onClick={onClose}>I have copied it</button>
      </div>
    </Dialog>
  );
}

function CreateKeyDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (k: CreatedApiKey) => void }) {
  const me = useAuthStore((s) => s.user);
  const scopes = useScopeCatalogue();
  const [name, setName] = useState("");
  const [picked, setPicked] = useState<string[]>([]);
  const [expires, setExpires] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const qc = useQueryClient();
  const create = useMutation({
    mutationFn: () =>
      send<CreatedApiKey>("post", "/apikeys", {
        name,
        scopes: picked,
        ...(expires ? { expires_at: new Date(`${expires}T23:59:59`).toISOString() } : {}),
      } satisfies ApiKeyInput),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["apikeys"] }),
  });
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      onCreated(await create.mutateAsync());
    } catch (err) {
      const apiErr = toApiError(err);
      setFields(apiErr.fieldErrors);
      setError(apiErr.message);
    }
  }
  return (
    <Dialog open title="Create API key" onClose={onClose}>
      <form onSubmit={onSubmit} className="space-y-3">
        {error && <Alert>{error}</Alert>}
        <Field label="Name" required value={name} error={fields.name} onChange={(e) => setName(e.target.value)} />
        <Field label="Expires on (optional)" type="date" value={expires} error={fields.expires_at} onChange={(e) => setExpires(e.target.value)} />
        <p className="text-sm">A key can only carry scopes your own account holds.</p>
        {scopes.data ? (
          <ScopePicker scopes={scopes.data.filter((s) => me?.scopes.includes(s.name))} value={picked} onChange={setPicked} allowed={me?.scopes} />
        ) : <Loading />}
        {fields.scopes && <p className="field-error">{fields.scopes}</p>}
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className="btn-secondary" onClick={onClose}>Cancel</button>
          <button type="submit" className="btn-primary" disabled={create.isPending || !name}>Create key</button>
        </div>
      </form>
    </Dialog>
  );
}

const KEY_VIEW = { q: "", all: "", revoked: "", sort: "name", page: "1", per: "25" };
const PER_PAGE = [10, 25, 50, 100] as const;
const keyId = (k: ApiKey) => String(k.id);

function sortValue(k: ApiKey, column: string, owner: string): string | null {
  switch (column) {
    case "owner": return owner.toLowerCase();
    case "created": return k.created_at;
    case "expires": return k.expires_at;
    case "last_used": return k.last_used_at;
    default: return k.name.toLowerCase();
  }
}

function matches(k: ApiKey, owner: string, q: string): boolean {
  const text = [k.name, k.prefix, owner, ...k.scopes].join(" ").toLowerCase();
  return q.toLowerCase().split(/\s+/).filter(Boolean).every((word) => text.includes(word));
}

/** What an empty table means: no keys at all, or keys that are revoked or filtered out. */
function emptyText({ total, revokedHidden, q, all }: { total: number; revokedHidden: number; q: string; all: boolean }): string {
  if (total === 0) return all ? "No API keys yet." : "You have no API keys yet.";
  const parts: string[] = [];
  if (q) parts.push(`No key matches “${q}”.`);
  else parts.push("No active keys.");
  if (revokedHidden) parts.push(`${revokedHidden} revoked key${revokedHidden === 1 ? " is" : "s are"} hidden: tick “Show revoked keys” to list ${revokedHidden === 1 ? "it" : "them"}.`);
  return parts.join(" ");
}

export default function ApiKeysPage() {
  const me = useAuthStore((s) => s.user);
  const isAdmin = hasScope(me, PAGE_SCOPES.usersAdmin);
  const canWrite = hasScope(me, PAGE_SCOPES.apikeysWrite);
  const canReadUsers = hasScope(me, PAGE_SCOPES.users);
  const [view, setView] = useUrlState(KEY_VIEW);
  const all = isAdmin && view.all === "true";
  const showRevoked = view.revoked === "true";
  const keys = useQuery({
    queryKey: ["apikeys", { all }],
    queryFn: () => getData<ApiKey[]>("/apikeys", all ? { all: true } : undefined),
  });
  const list = useMemo(() => keys.data ?? [], [keys.data]);
  const owners = useKeyOwners(list, all && canReadUsers);
  const ownerOf = (k: ApiKey): KeyOwner | undefined => owners.get(String(k.user_id));
  const ownerName = (k: ApiKey): string =>
    ownerOf(k)?.email ?? (String(k.user_id) === String(me?.id) ? me?.email ?? "" : `user ${k.user_id ?? "?"}`);
  const qc = useQueryClient();
  const [creating, setCreating] = useState(false);
  // The key whose secret is on screen, and the toast to show once it is put away (a toast
  // under the dialog would fade before anyone reads it).
  const [revealed, setRevealed] = useState<{ key: CreatedApiKey; done: string } | null>(null);
  // `warning` holds the backend's refusal to revoke a service account's key; confirming
  // then repeats the request with force.
  const [confirm, setConfirm] = useState<{ kind: "revoke" | "rotate"; key: ApiKey; warning?: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const act = useMutation({
    mutationFn: ({ kind, key, warning }: { kind: "revoke" | "rotate"; key: ApiKey; warning?: string }): Promise<ApiKey | CreatedApiKey> =>
      kind === "revoke" ? revokeKey(key.id, !!warning) : send<CreatedApiKey>("post", `/apikeys/${key.id}/rotate`),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["apikeys"] }),
  });

  const perPage = intParam(view.per, 25, PER_PAGE);
  const sortColumn = view.sort.replace(/^-/, "");
  const descending = view.sort.startsWith("-");
  // Owners arrive after the keys (a new Map each render): sort and filter again when they do.
  const ownerEmails = JSON.stringify([...owners.values()].map((o) => [String(o.id), o.email]));
  const shown = useMemo(() => {
    const emails = new Map<string, string>(JSON.parse(ownerEmails));
    const name = (k: ApiKey) => emails.get(String(k.user_id)) ?? String(k.user_id ?? "");
    const out = list.filter((k) => (showRevoked || !k.revoked) && matches(k, name(k), view.q));
    out.sort((a, b) => {
      const c = compareCells(sortValue(a, sortColumn, name(a)), sortValue(b, sortColumn, name(b))) || compareCells(a.name, b.name);
      return descending ? -c : c;
    });
    return out;
  }, [list, showRevoked, view.q, sortColumn, descending, ownerEmails]);
  const pages = Math.max(1, Math.ceil(shown.length / perPage));
  const page = Math.min(intParam(view.page, 1), pages);
  const pageRows = shown.slice((page - 1) * perPage, page * perPage);
  const revokedHidden = showRevoked ? 0 : list.filter((k) => k.revoked).length;

  const setPage = useCallback((p: number) => setView({ page: String(p) }, { replace: true }), [setView]);
  const reveal = useCallback(() => {
    if (!view.q) return false;
    setView({ q: "", page: "1" }, { replace: true });
    return true;
  }, [view.q, setView]);
  const { keep, highlightId, tbody } = useKeepRow({
    rows: shown, idOf: keyId, perPage, page, setPage, reveal,
    ready: !!keys.data && !keys.isFetching && !keys.isPlaceholderData,
  });
  const onSort = (sort: string) => setView({ sort, page: "1" });
  const columns = 6 + (all ? 1 : 0) + (canWrite ? 1 : 0);

  return (
    <>
      <PageHeader title="API keys">
        {canWrite && (
          <button type="button" className="btn-primary" onClick={() => setCreating(true)}>
            <Plus aria-hidden className="h-4 w-4" /> New API key
          </button>
        )}
      </PageHeader>
      <div className="mb-3 flex flex-wrap items-center gap-4" role="search" aria-label="Filter API keys">
        <div className="min-w-48 flex-1">
          <label htmlFor="key-filter" className="sr-only">Filter keys</label>
          <input id="key-filter" type="search" className="input" placeholder="Filter by name, prefix, scope or owner…" value={view.q}
            onChange={(e) => setView({ q: e.target.value, page: "1" }, { replace: true })} />
        </div>
        {isAdmin && (
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" className="h-4 w-4 accent-sky-400" checked={all} onChange={(e) => setView({ all: e.target.checked ? "true" : "", page: "1" })} />
            Show every user's keys
          </label>
        )}
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" className="h-4 w-4 accent-sky-400" checked={showRevoked} onChange={(e) => setView({ revoked: e.target.checked ? "true" : "", page: "1" })} />
          Show revoked keys
        </label>
      </div>
      {error && <div className="mb-3"><Alert>{error}</Alert></div>}
      {keys.isLoading ? <Loading /> : keys.isError ? <Alert>{toApiError(keys.error).message}</Alert> : (
        <div className="card table-scroll p-0">
          <table className="table">
            <caption className="sr-only">API keys</caption>
            <thead>
              <tr>
                <SortHeader column="name" sort={view.sort} onSort={onSort}>Name</SortHeader>
                {all && <SortHeader column="owner" sort={view.sort} onSort={onSort}>Owner</SortHeader>}
                <th scope="col">Prefix</th><th scope="col">Scopes</th>
                <SortHeader column="created" sort={view.sort} onSort={onSort}>Created</SortHeader>
                <SortHeader column="expires" sort={view.sort} onSort={onSort}>Expires</SortHeader>
                <SortHeader column="last_used" sort={view.sort} onSort={onSort}>Last used</SortHeader>
                {canWrite && <th scope="col"><span className="sr-only">Actions</span></th>}
              </tr>
            </thead>
            <tbody ref={tbody}>
              {pageRows.map((k) => (
                <tr key={k.id} data-testid="key-row" data-row-id={k.id} className={highlightId === String(k.id) ? "row-highlight" : undefined}>
                  <td>
                    {k.name}
                    {k.revoked && <span className="badge ml-2 bg-slate-700 text-amber-100">revoked</span>}
                  </td>
                  {all && (
                    <td>
                      {ownerName(k)}
                      {ownerOf(k)?.service_account && <span className="badge ml-2 bg-violet-300 text-slate-950">service account</span>}
                    </td>
                  )}
                  <td><code className="text-sky-200">{k.prefix}…</code></td>
                  <td>{k.scopes.join(", ")}</td>
                  <td>{fmt(k.created_at)}</td>
                  <td>{fmt(k.expires_at)}</td>
                  <td>{fmt(k.last_used_at)}</td>
                  {canWrite && (
                    <td className="whitespace-nowrap text-right">
                      {!k.revoked && <span className="inline-flex gap-1">
                        {/* Only a key's owner may rotate it: nobody else ever sees its secret. */}
                        {(k.user_id === undefined || String(k.user_id) === String(me?.id)) && (
                          <button type="button" className="btn-icon" aria-label={`Rotate ${k.name}`} onClick={() => setConfirm({ kind: "rotate", key: k })}>
                            <RotateCw aria-hidden className="h-4 w-4" />
                          </button>
                        )}
                        <button type="button" className="btn-icon" aria-label={`Revoke ${k.name}`} onClick={() => setConfirm({ kind: "revoke", key: k })}>
                          <Trash2 aria-hidden className="h-4 w-4" />
                        </button>
                      </span>}
                    </td>
                  )}
                </tr>
              ))}
              {shown.length === 0 && (
                <tr><td colSpan={columns} className="muted" data-testid="keys-empty">{emptyText({ total: list.length, revokedHidden, q: view.q, all })}</td></tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {keys.data && (
        <Pagination
          page={page}
          perPage={perPage}
          total={shown.length}
          pageSizes={PER_PAGE}
          onPage={(p) => setView({ page: String(p) })}
          onPerPage={(n) => setView({ per: String(n), page: "1" })}
        />
      )}
      {creating && (
        <CreateKeyDialog
          onClose={() => setCreating(false)}
          onCreated={(k) => {
            setCreating(false);
            setRevealed({ key: k, done: `API key “${k.name}” created` });
          }}
        />
      )}
      {revealed && (
        <KeyReveal
          apiKey={revealed.key}
          onClose={() => {
            setRevealed(null);
            toast(revealed.done);
            keep(revealed.key.id);
          }}
        />
      )}
      <ConfirmDialog
        open={!!confirm}
        title={confirm?.kind === "revoke" ? "Revoke API key" : "Rotate API key"}
        message={confirm?.kind === "revoke"
          ? <div className="space-y-3">
              {confirm.warning && (
                <Alert tone="warning"><strong>Protected account.</strong> {confirm.warning}</Alert>
              )}
              <p>
                Revoke <strong>{confirm.key.name}</strong>? Anything using it stops working immediately.
                {confirm.warning && <> Revoke it anyway?</>}
              </p>
            </div>
          : <>Rotate <strong>{confirm?.key.name}</strong>? The old key stops working and a new one is shown once.</>}
        confirmLabel={confirm?.kind === "revoke" ? (confirm.warning ? "Revoke anyway" : "Revoke") : "Rotate"}
        busy={act.isPending}
        onCancel={() => setConfirm(null)}
        onConfirm={async () => {
          if (!confirm) return;
          setError(null);
          try {
            const res = await act.mutateAsync(confirm);
            const rotated = `API key “${confirm.key.name}” rotated: the old secret no longer works`;
            if (confirm.kind === "rotate" && res && "key" in res && res.key) setRevealed({ key: res, done: rotated });
            else if (confirm.kind === "rotate") {
              toast(rotated);
              keep(confirm.key.id);
            } else {
              toast(`API key “${confirm.key.name}” revoked`);
              if (showRevoked) keep(confirm.key.id);
            }
          } catch (err) {
            const apiErr = toApiError(err);
            if (confirm.kind === "revoke" && isProtectedAccount(apiErr) && !confirm.warning) {
              // Keep the dialog open, now with the backend's warning and an explicit "anyway".
              setConfirm({ ...confirm, warning: protectedWarning(apiErr) });
              return;
            }
            setError(apiErr.message);
          }
          setConfirm(null);
        }}
      />
    </>
  );
}
