import { useCallback, useMemo, useState, type FormEvent } from "react";
import { Download, Pencil, Plus, Trash2, UserX, UserCheck } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { Field } from "../../components/Field";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { Pagination } from "../../components/Pagination";
import { SortHeader } from "../../components/SortHeader";
import { toast } from "../../components/Toast";
import { useRoles, type Role } from "../../lib/access";
import { isProtectedAccount, protectedWarning, toApiError } from "../../lib/api-error";
import { formatWhen } from "../../lib/format";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { PAGE_SCOPES } from "../../lib/permissions";
import { useDebounced } from "../../lib/use-debounced";
import { compareCells, useKeepRow } from "../../lib/use-keep-row";
import { intParam, useUrlState } from "../../lib/use-url-state";
import {
  downloadUsersCsv, useUserMutations, useUsers, type ListedUser, type UserFilters, type UserPatchInput,
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

function CreateUserDialog({ open, onClose, onCreated, roles }: { open: boolean; onClose: () => void; onCreated: (u: ListedUser) => void; roles: Role[] }) {
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
      const created = await create.mutateAsync({ email, password, active: true, ...(roles.length ? { roles: picked } : {}) });
      setEmail("");
      setPassword("");
      onCreated(created);
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

function EditUserDialog({ user, onClose, onSaved, roles, canAdmin }: {
  user: ListedUser | null;
  onClose: () => void;
  onSaved: (u: ListedUser) => void;
  roles: Role[];
  canAdmin: boolean;
}) {
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
    const changes: UserPatchInput = {};
    if (email.trim() !== user.email) changes.email = email.trim();
    if (password) changes.password = password;
    if (canAdmin && [...picked].sort().join() !== [...user.roles].sort().join()) changes.roles = picked;
    if (Object.keys(changes).length === 0) {
      onClose();
      return;
    }
    try {
      const saved = await update.mutateAsync({ id: user.id, ...changes, ...(warning ? { force: true } : {}) });
      onSaved({ ...user, ...saved });
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

const USER_VIEW = { q: "", status: "", role: "", sort: "email", page: "1", per: "25" };
const PER_PAGE = [10, 25, 50, 100] as const;
const userId = (u: ListedUser) => String(u.id);

function sortValue(u: ListedUser, column: string): string | number | null {
  switch (column) {
    case "roles": return u.roles.join(", ") || null;
    case "status": return u.active ? 1 : 0;
    case "tf": return u.tf_enabled ? 1 : 0;
    case "last_login": return u.last_login_at ?? null; // ISO 8601: text order is time order
    default: return u.email.toLowerCase();
  }
}

export default function UsersPage() {
  const me = useAuthStore((s) => s.user);
  const canWrite = hasScope(me, PAGE_SCOPES.usersWrite);
  // Assigning roles and deleting accounts need users:admin on the backend.
  const canAdmin = hasScope(me, PAGE_SCOPES.usersAdmin);
  const [view, setView] = useUrlState(USER_VIEW);
  const q = useDebounced(view.q);
  const status: UserFilters["status"] = view.status === "active" || view.status === "inactive" ? view.status : "";
  const filters: UserFilters = { q, status, role: view.role };
  const users = useUsers(filters);
  const roles = useRoles();
  const { update, remove } = useUserMutations();
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<ListedUser | null>(null);
  // `warning` holds the backend's refusal for a protected account; confirming then forces.
  const [confirm, setConfirm] = useState<{ kind: "delete" | "deactivate" | "activate"; user: ListedUser; warning?: string } | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);

  const perPage = intParam(view.per, 25, PER_PAGE);
  const sortColumn = view.sort.replace(/^-/, "");
  const descending = view.sort.startsWith("-");
  const filtered = view.q !== "" || view.status !== "" || view.role !== "";
  const sorted = useMemo(() => {
    const out = [...(users.data?.users ?? [])];
    out.sort((a, b) => {
      const c = compareCells(sortValue(a, sortColumn), sortValue(b, sortColumn)) || compareCells(a.email, b.email);
      return descending ? -c : c;
    });
    return out;
  }, [users.data, sortColumn, descending]);
  const pages = Math.max(1, Math.ceil(sorted.length / perPage));
  const page = Math.min(intParam(view.page, 1), pages);
  const pageRows = sorted.slice((page - 1) * perPage, page * perPage);

  const setPage = useCallback((p: number) => setView({ page: String(p) }, { replace: true }), [setView]);
  // A user the filters hide (a new viewer while "admin" is picked): clear them to show it.
  const reveal = useCallback(() => {
    if (!filtered) return false;
    setView({ q: "", status: "", role: "", page: "1" }, { replace: true });
    toast("Cleared the filters to show the user", "info");
    return true;
  }, [filtered, setView]);
  const { keep, highlightId, tbody } = useKeepRow({
    rows: sorted, idOf: userId, perPage, page, setPage, reveal,
    ready: !!users.data && !users.isFetching && !users.isPlaceholderData && q === view.q,
  });
  const onSort = (sort: string) => setView({ sort, page: "1" });

  async function runConfirm() {
    if (!confirm) return;
    setActionError(null);
    const { kind, user: target } = confirm;
    const force = confirm.warning ? { force: true } : {};
    try {
      if (kind === "delete") await remove.mutateAsync({ id: target.id, ...force });
      else await update.mutateAsync({ id: target.id, active: kind === "activate", ...force });
    } catch (err) {
      const apiErr = toApiError(err);
      if (isProtectedAccount(apiErr) && !confirm.warning) {
        // Keep the dialog open: now with the warning and an explicit "anyway".
        setConfirm({ ...confirm, warning: protectedWarning(apiErr) });
        return;
      }
      setActionError(apiErr.message);
      setConfirm(null);
      return;
    }
    setConfirm(null);
    toast(`User “${target.email}” ${kind === "delete" ? "deleted" : kind === "deactivate" ? "deactivated" : "activated"}`);
    if (kind !== "delete") keep(target.id);
  }

  async function exportCsv() {
    setExporting(true);
    setActionError(null);
    try {
      // What the search box says now, even if the table is still waiting for typing to pause.
      await downloadUsersCsv({ ...filters, q: view.q });
      toast(filtered ? "Exported the filtered users as CSV" : "Exported the users as CSV");
    } catch (err) {
      setActionError(toApiError(err).message);
    } finally {
      setExporting(false);
    }
  }

  const truncated = users.data && users.data.total > users.data.users.length;
  return (
    <>
      <PageHeader title="Users">
        <button type="button" className="btn-secondary" onClick={exportCsv} disabled={exporting}>
          <Download aria-hidden className="h-4 w-4" /> {exporting ? "Exporting…" : "Export CSV"}
        </button>
        {canWrite && (
          <button type="button" className="btn-primary" onClick={() => setCreating(true)}>
            <Plus aria-hidden className="h-4 w-4" /> New user
          </button>
        )}
      </PageHeader>
      <form role="search" aria-label="Filter users" className="card mb-4 grid gap-3 sm:grid-cols-3" onSubmit={(e) => e.preventDefault()}>
        <Field label="Search by email" type="search" value={view.q} onChange={(e) => setView({ q: e.target.value, page: "1" }, { replace: true })} />
        <div>
          <label className="label" htmlFor="user-status">Status</label>
          <select id="user-status" className="input" value={status} onChange={(e) => setView({ status: e.target.value, page: "1" })}>
            <option value="">Any</option>
            <option value="active">Active</option>
            <option value="inactive">Inactive</option>
          </select>
        </div>
        <div>
          <label className="label" htmlFor="user-role">Role</label>
          <select id="user-role" className="input" value={view.role} onChange={(e) => setView({ role: e.target.value, page: "1" })}>
            <option value="">Any</option>
            {/* A role named in the URL shows even before (or without) the role list. */}
            {view.role && !roles.data?.some((r) => r.name === view.role) && <option value={view.role}>{view.role}</option>}
            {roles.data?.map((r) => <option key={r.name} value={r.name}>{r.name}</option>)}
          </select>
        </div>
        {filtered && (
          <div className="sm:col-span-3">
            <button type="button" className="btn-secondary" onClick={() => setView({ q: "", status: "", role: "", page: "1" })}>Clear filters</button>
          </div>
        )}
      </form>
      {actionError && <div className="mb-3"><Alert>{actionError}</Alert></div>}
      {truncated && (
        <div className="mb-3">
          <Alert tone="info">Showing the first {users.data!.users.length} of {users.data!.total} users: narrow the filters to see the rest.</Alert>
        </div>
      )}
      {users.isLoading ? (
        <Loading />
      ) : users.isError ? (
        <Alert>{toApiError(users.error).message}</Alert>
      ) : (
        <div className="card table-scroll p-0">
          <table className="table">
            <caption className="sr-only">Users</caption>
            <thead>
              <tr>
                <SortHeader column="email" sort={view.sort} onSort={onSort}>Email</SortHeader>
                <SortHeader column="roles" sort={view.sort} onSort={onSort}>Roles</SortHeader>
                <SortHeader column="status" sort={view.sort} onSort={onSort}>Status</SortHeader>
                <SortHeader column="tf" sort={view.sort} onSort={onSort}>2FA</SortHeader>
                <SortHeader column="last_login" sort={view.sort} onSort={onSort}>Last login</SortHeader>
                {canWrite && <th scope="col"><span className="sr-only">Actions</span></th>}
              </tr>
            </thead>
            <tbody ref={tbody}>
              {pageRows.map((u) => (
                <tr key={u.id} data-testid="user-row" data-row-id={u.id} className={highlightId === String(u.id) ? "row-highlight" : undefined}>
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
              {sorted.length === 0 && (
                <tr><td colSpan={6} className="muted">{filtered ? "No users match these filters." : "No users."}</td></tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {users.data && (
        <Pagination
          page={page}
          perPage={perPage}
          total={sorted.length}
          pageSizes={PER_PAGE}
          onPage={(p) => setView({ page: String(p) })}
          onPerPage={(n) => setView({ per: String(n), page: "1" })}
        />
      )}
      {creating && (
        <CreateUserDialog
          open
          onClose={() => setCreating(false)}
          onCreated={(u) => {
            setCreating(false);
            toast(`User “${u.email}” created`);
            keep(u.id);
          }}
          roles={canAdmin ? roles.data ?? [] : []}
        />
      )}
      {editing && (
        <EditUserDialog
          user={editing}
          onClose={() => setEditing(null)}
          onSaved={(u) => {
            setEditing(null);
            toast(`Saved changes to “${u.email}”`);
            keep(u.id);
          }}
          roles={roles.data ?? []}
          canAdmin={canAdmin}
        />
      )}
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
