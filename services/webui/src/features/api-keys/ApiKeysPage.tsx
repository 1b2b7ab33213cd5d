import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Check, Copy, Plus, RotateCw, Trash2 } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { Field } from "../../components/Field";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { getData, send } from "../../lib/api-client";
import { toApiError } from "../../lib/api-error";
import { formatWhen } from "../../lib/format";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { PAGE_SCOPES } from "../../lib/permissions";
import { ScopePicker, useScopeCatalogue } from "../roles/RolesPage";
import { isProtectedAccount, protectedWarning, revokeKey, useKeyOwners, type ApiKey, type KeyOwner } from "./api";

const fmt = formatWhen;

/** The secret, shown exactly once, with a copy button. */
function KeyReveal({ apiKey, onClose }: { apiKey: ApiKey; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <Dialog open title="Your new API key" onClose={onClose}>
      <Alert tone="warning">Copy this key now. It will not be shown again.</Alert>
      <div className="my-3 flex items-center gap-2">
        <label htmlFor="new-key" className="sr-only">API key</label>
        <input id="new-key" readOnly value={apiKey.key ?? ""} className="input font-mono text-xs" onFocus={(e) => e.currentTarget.select()} data-testid="new-api-key" />
        <button
          type="button"
          className="btn-secondary"
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(apiKey.key ?? "");
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
        <button type="button" className="btn-primary" onClick={onClose}>Done</button>
      </div>
    </Dialog>
  );
}

function CreateKeyDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (k: ApiKey) => void }) {
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
      send<ApiKey>("post", "/apikeys", {
        name,
        scopes: picked,
        ...(expires ? { expires_at: new Date(`${expires}T23:59:59`).toISOString() } : {}),
      }),
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

export default function ApiKeysPage() {
  const me = useAuthStore((s) => s.user);
  const isAdmin = hasScope(me, PAGE_SCOPES.usersAdmin);
  const canWrite = hasScope(me, PAGE_SCOPES.apikeysWrite);
  const canReadUsers = hasScope(me, PAGE_SCOPES.users);
  const [all, setAll] = useState(false);
  const [showRevoked, setShowRevoked] = useState(false);
  const keys = useQuery({
    queryKey: ["apikeys", { all }],
    queryFn: () => getData<ApiKey[]>("/apikeys", all ? { all: true } : undefined),
  });
  const shown = (keys.data ?? []).filter((k) => showRevoked || !k.revoked);
  const owners = useKeyOwners(shown, all && canReadUsers);
  const ownerOf = (k: ApiKey): KeyOwner | undefined => owners.get(String(k.user_id));
  const qc = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [revealed, setRevealed] = useState<ApiKey | null>(null);
  // `warning` holds the backend's refusal to revoke a service account's key; confirming
  // then repeats the request with force.
  const [confirm, setConfirm] = useState<{ kind: "revoke" | "rotate"; key: ApiKey; warning?: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const act = useMutation({
    mutationFn: ({ kind, key, warning }: { kind: "revoke" | "rotate"; key: ApiKey; warning?: string }) =>
      kind === "revoke" ? revokeKey(key.id, !!warning) : send<ApiKey>("post", `/apikeys/${key.id}/rotate`),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["apikeys"] }),
  });

  return (
    <>
      <PageHeader title="API keys">
        {canWrite && (
          <button type="button" className="btn-primary" onClick={() => setCreating(true)}>
            <Plus aria-hidden className="h-4 w-4" /> New API key
          </button>
        )}
      </PageHeader>
      <div className="mb-3 flex flex-wrap gap-4">
        {isAdmin && (
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" className="h-4 w-4 accent-sky-400" checked={all} onChange={(e) => setAll(e.target.checked)} />
            Show every user's keys
          </label>
        )}
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" className="h-4 w-4 accent-sky-400" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} />
          Show revoked keys
        </label>
      </div>
      {error && <Alert>{error}</Alert>}
      {keys.isLoading ? <Loading /> : keys.isError ? <Alert>{toApiError(keys.error).message}</Alert> : (
        <div className="card overflow-x-auto p-0">
          <table className="table">
            <caption className="sr-only">API keys</caption>
            <thead>
              <tr><th scope="col">Name</th>{all && <th scope="col">Owner</th>}<th scope="col">Prefix</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th>{canWrite && <th scope="col"><span className="sr-only">Actions</span></th>}</tr>
            </thead>
            <tbody>
              {shown.map((k) => (
                <tr key={k.id}>
                  <td>
                    {k.name}
                    {k.revoked && <span className="badge ml-2 bg-slate-700 text-amber-100">revoked</span>}
                  </td>
                  {all && (
                    <td>
                      {ownerOf(k)?.email ?? (String(k.user_id) === String(me?.id) ? me?.email : `user ${k.user_id ?? "?"}`)}
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
              {shown.length === 0 && <tr><td colSpan={all ? 8 : 7} className="muted">No API keys yet.</td></tr>}
            </tbody>
          </table>
        </div>
      )}
      {creating && <CreateKeyDialog onClose={() => setCreating(false)} onCreated={(k) => { setCreating(false); setRevealed(k); }} />}
      {revealed && <KeyReveal apiKey={revealed} onClose={() => setRevealed(null)} />}
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
            if (confirm.kind === "rotate" && res?.key) setRevealed(res);
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
