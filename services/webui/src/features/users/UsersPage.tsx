import { useState, type FormEvent } from "react";
import { Pencil, Plus, Trash2, UserX, UserCheck } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { Field } from "../../components/Field";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { Pagination } from "../../components/Pagination";
import { toApiError } from "../../lib/api-error";
import { formatWhen } from "../../lib/format";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { PAGE_SCOPES } from "../../lib/permissions";
import { useDebounced } from "../../lib/use-debounced";
import {
  isProtectedAccount, protectedWarning, useRoles, useUserMutations, useUsers, type ListedUser, type Role, type UserFilters, type UserInput,
} from "./api";

/** The badge of a built-in machine account (the backend protects it from changes). */
function ServiceAccountBadge() {
  return <span className="badge ml-2 bg-violet-300 text-slate-950">service account</span>;
}

/** The backend's warning about a protected account, before the user decides to force it. */
function ProtectedWarning({ text }: { text: string }) {
  return (
    <Alert tone="warning">
      <strong>Protected account.</strong> {text}
    </Alert>
  );
}

function RolePicker({ roles, value, onChange, legend }: { roles: Role[]; value: string[]; onChange: (v: string[]) => void; legend: string }) {
  return (
    <fieldset>
      <legend className="label">{legend}</legend>
      <div className="flex flex-wrap gap-3">
        {roles.map((r) => (
          <label key={r.name} className="flex items-center gap-2 text-sm">
            <input
              type="checkbox"
              className="h-4 w-4 accent-sky-400"
              checked={value.includes(r.name)}
              onChange={(e) => onChange(e.target.checked ? [...value, r.name] : value.filter((n) => n !== r.name))}
            />
            {r.name}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

function CreateUserDialog({ open, onClose, roles }: { open: boolean; onClose: () => void; roles: Role[] }) {
  const { create } = useUserMutations();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [picked, setPicked] = useState<string[]>(["viewer"]);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setFieldErrors({});
    try {
      await create.mutateAsync({ email, password, active: true, ...(roles.length ? { roles: picked } : {}) });
      setEmail("");
      setPassword("");
      onClose();
    } catch (err) {
      const apiErr = toApiError(err);
      setFieldErrors(apiErr.fieldErrors);
      setError(apiErr.code === "conflict" ? "A user with this email already exists." : apiErr.message);
    }
  }

  return (
    <Dialog open={open} title="Create user" onClose={onClose}>
      <form onSubmit={onSubmit} className="space-y-3">
        {error && <Alert>{error}</Alert>}
        <Field label="Email" type="email" required value={email} error={fieldErrors.email} onChange={(e) => setEmail(e.target.value)} />
        <Field label="Initial password" type="password" autoComplete="new-password" required value={password} error={fieldErrors.password} onChange={(e) => setPassword(e.target.value)} />
        {roles.length > 0 && <RolePicker legend="Roles" roles={roles} value={picked} onChange={setPicked} />}
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className="btn-secondary" onClick={onClose}>Cancel</button>
          <button type="submit" className="btn-primary" disabled={create.isPending}>Create user</button>
        </div>
      </form>
    </Dialog>
  );
}

function EditUserDialog({ user, onClose, roles, canAdmin }: { user: ListedUser | null; onClose: () => void; roles: Role[]; canAdmin: boolean }) {
  const { update } = useUserMutations();
  const [email, setEmail] = useState(user?.email ?? "");
  const [password, setPassword] = useState("");
  const [picked, setPicked] = useState<string[]>(user?.roles ?? []);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  // Set when the backend refused to re-role a service account: the next save forces it.
  const [warning, setWarning] = useState<string | null>(null);
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (!user) return;
    setError(null);
    setFieldErrors({});
    // Only what changed: roles need users:admin, e-mail and password users:write.
    const changes: UserInput = {};
    if (email.trim() !== user.email) changes.email = email.trim();
    if (password) changes.password = password;
    if (canAdmin && [...picked].sort().join() !== [...user.roles].sort().join()) changes.roles = picked;
    if (Object.keys(changes).length === 0) {
      onClose();
      return;
    }
    try {
      await update.mutateAsync({ id: user.id, ...changes, ...(warning ? { force: true } : {}) });
      onClose();
    } catch (err) {
      const apiErr = toApiError(err);
      if (isProtectedAccount(apiErr) && !warning) {
        setWarning(protectedWarning(apiErr));
        return;
      }
      setFieldErrors(apiErr.fieldErrors);
      setError(apiErr.code === "conflict" ? "Another user already has this email." : apiErr.message);
    }
  }
  return (
    <Dialog open={!!user} title={`Edit ${user?.email ?? ""}`} onClose={onClose}>
      <form onSubmit={onSubmit} className="space-y-3">
        {error && <Alert>{error}</Alert>}
        {user?.service_account && !warning && <Alert tone="info">This is a built-in service account: Rookery's services sign in with it.</Alert>}
        {warning && <ProtectedWarning text={warning} />}
        <Field label="Email" type="email" required value={email} error={fieldErrors.email} onChange={(e) => setEmail(e.target.value)} />
        <Field label="New password (leave empty to keep)" type="password" autoComplete="new-password" value={password} error={fieldErrors.password} onChange={(e) => setPassword(e.target.value)} />
        {canAdmin && <RolePicker legend="Roles" roles={roles} value={picked} onChange={setPicked} />}
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className="btn-secondary" onClick={onClose}>Cancel</button>
          {warning
            ? <button type="submit" className="btn-danger" disabled={update.isPending}>Save anyway</button>
            : <button type="submit" className="btn-primary" disabled={update.isPending}>Save</button>}
        </div>
      </form>
    </Dialog>
  );
}

export default function UsersPage() {
  const me = useAuthStore((s) => s.user);
  const canWrite = hasScope(me, PAGE_SCOPES.usersWrite);
  // Assigning roles and deleting accounts need users:admin on the backend.
  const canAdmin = hasScope(me, PAGE_SCOPES.usersAdmin);
  const [filters, setFilters] = useState<UserFilters>({ q: "", status: "", role: "", page: 1, per_page: 20 });
  const q = useDebounced(filters.q);
  const users = useUsers({ ...filters, q });
  const roles = useRoles();
  const { update, remove } = useUserMutations();
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<ListedUser | null>(null);
  // `warning` holds the backend's refusal for a protected account; confirming then forces.
  const [confirm, setConfirm] = useState<{ kind: "delete" | "deactivate" | "activate"; user: ListedUser; warning?: string } | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const set = (patch: Partial<UserFilters>) => setFilters((f) => ({ ...f, page: 1, ...patch }));

  async function runConfirm() {
    if (!confirm) return;
    setActionError(null);
    const force = confirm.warning ? { force: true } : {};
    try {
      if (confirm.kind === "delete") await remove.mutateAsync({ id: confirm.user.id, ...force });
      else await update.mutateAsync({ id: confirm.user.id, active: confirm.kind === "activate", ...force });
    } catch (err) {
      const apiErr = toApiError(err);
      if (isProtectedAccount(apiErr) && !confirm.warning) {
        // Keep the dialog open: now with the warning and an explicit "anyway".
        setConfirm({ ...confirm, warning: protectedWarning(apiErr) });
        return;
      }
      setActionError(apiErr.message);
    }
    setConfirm(null);
  }

  return (
    <>
      <PageHeader title="Users">
        {canWrite && (
          <button type="button" className="btn-primary" onClick={() => setCreating(true)}>
            <Plus aria-hidden className="h-4 w-4" /> New user
          </button>
        )}
      </PageHeader>
      <form role="search" className="card mb-4 grid gap-3 sm:grid-cols-3" onSubmit={(e) => e.preventDefault()}>
        <Field label="Search by email" type="search" value={filters.q} onChange={(e) => set({ q: e.target.value })} />
        <div>
          <label className="label" htmlFor="user-status">Status</label>
          <select id="user-status" className="input" value={filters.status} onChange={(e) => set({ status: e.target.value as UserFilters["status"] })}>
            <option value="">Any</option>
            <option value="active">Active</option>
            <option value="inactive">Inactive</option>
          </select>
        </div>
        <div>
          <label className="label" htmlFor="user-role">Role</label>
          <select id="user-role" className="input" value={filters.role} onChange={(e) => set({ role: e.target.value })}>
            <option value="">Any</option>
            {roles.data?.map((r) => <option key={r.name} value={r.name}>{r.name}</option>)}
          </select>
        </div>
      </form>
      {actionError && <Alert>{actionError}</Alert>}
      {users.isLoading ? (
        <Loading />
      ) : users.isError ? (
        <Alert>{toApiError(users.error).message}</Alert>
      ) : (
        <div className="card overflow-x-auto p-0">
          <table className="table">
            <caption className="sr-only">Users</caption>
            <thead>
              <tr><th scope="col">Email</th><th scope="col">Roles</th><th scope="col">Status</th><th scope="col">2FA</th><th scope="col">Last login</th>{canWrite && <th scope="col"><span className="sr-only">Actions</span></th>}</tr>
            </thead>
            <tbody>
              {users.data?.users.map((u) => (
                <tr key={u.id}>
                  <td>{u.email}{u.service_account && <ServiceAccountBadge />}</td>
                  <td>{u.roles.join(", ") || "—"}</td>
                  <td>
                    <span className={`badge ${u.active ? "bg-emerald-300 text-slate-950" : "bg-slate-700 text-amber-100"}`}>
                      {u.active ? "active" : "inactive"}
                    </span>
                  </td>
                  <td>{u.tf_enabled ? "on" : "off"}</td>
                  <td>{u.last_login_at ? formatWhen(u.last_login_at) : "never"}</td>
                  {canWrite && (
                    <td className="whitespace-nowrap text-right">
                      <span className="inline-flex gap-1">
                        <button type="button" className="btn-icon" aria-label={`Edit ${u.email}`} onClick={() => setEditing(u)}>
                          <Pencil aria-hidden className="h-4 w-4" />
                        </button>
                        {u.id !== me?.id && <button type="button" className="btn-icon" aria-label={`${u.active ? "Deactivate" : "Activate"} ${u.email}`}
                          onClick={() => setConfirm({ kind: u.active ? "deactivate" : "activate", user: u })}>
                          {u.active ? <UserX aria-hidden className="h-4 w-4" /> : <UserCheck aria-hidden className="h-4 w-4" />}
                        </button>}
                        {canAdmin && u.id !== me?.id && (
                          <button type="button" className="btn-icon" aria-label={`Delete ${u.email}`} onClick={() => setConfirm({ kind: "delete", user: u })}>
                            <Trash2 aria-hidden className="h-4 w-4" />
                          </button>
                        )}
                      </span>
                    </td>
                  )}
                </tr>
              ))}
              {users.data?.users.length === 0 && (
                <tr><td colSpan={6} className="muted">No users match these filters.</td></tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {users.data && (
        <Pagination page={filters.page} perPage={filters.per_page} total={users.data.meta.total}
          onPage={(p) => setFilters((f) => ({ ...f, page: p }))} />
      )}
      {creating && <CreateUserDialog open onClose={() => setCreating(false)} roles={canAdmin ? roles.data ?? [] : []} />}
      {editing && <EditUserDialog user={editing} onClose={() => setEditing(null)} roles={roles.data ?? []} canAdmin={canAdmin} />}
      <ConfirmDialog
        open={!!confirm}
        title={confirm?.kind === "delete" ? "Delete user" : confirm?.kind === "deactivate" ? "Deactivate user" : "Activate user"}
        message={
          <div className="space-y-3">
            {confirm?.warning && <ProtectedWarning text={confirm.warning} />}
            <p>
              {confirm?.kind === "delete"
                ? <>Delete <strong>{confirm.user.email}</strong>? This cannot be undone.</>
                : <>{confirm?.kind === "deactivate" ? "Deactivate" : "Activate"} <strong>{confirm?.user.email}</strong>?</>}
              {confirm?.user.service_account && !confirm.warning && <> It is a built-in service account.</>}
              {confirm?.warning && <> Do it anyway?</>}
            </p>
          </div>
        }
        confirmLabel={`${confirm?.kind === "delete" ? "Delete" : confirm?.kind === "deactivate" ? "Deactivate" : "Activate"}${confirm?.warning ? " anyway" : ""}`}
        onConfirm={runConfirm}
        onCancel={() => setConfirm(null)}
        busy={update.isPending || remove.isPending}
      />
    </>
  );
}
