import { useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Pencil, Plus, Trash2 } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { Field } from "../../components/Field";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { ScopePicker } from "../../components/ScopePicker";
import { send } from "../../lib/api-client";
import { toApiError } from "../../lib/api-error";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { PAGE_SCOPES } from "../../lib/permissions";
import { useRoles, useScopeCatalogue, type Role } from "../../lib/access";
import type { components } from "../../lib/api-schema.gen";

type Schemas = components["schemas"];

function RoleDialog({ role, onClose }: { role: Role | "new"; onClose: () => void }) {
  const qc = useQueryClient();
  const scopes = useScopeCatalogue();
  const isNew = role === "new";
  const [name, setName] = useState(isNew ? "" : role.name);
  const [description, setDescription] = useState(isNew ? "" : role.description);
  const [picked, setPicked] = useState<string[]>(isNew ? [] : role.scopes);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const save = useMutation({
    mutationFn: () =>
      isNew
        ? send<Role>("post", "/roles", { name, description, scopes: picked } satisfies Schemas["RoleCreateIn"])
        : send<Role>("patch", `/roles/${role.id}`, { description, scopes: picked } satisfies Schemas["RolePatchIn"]),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["roles"] }),
  });
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      await save.mutateAsync();
      onClose();
    } catch (err) {
      const apiErr = toApiError(err);
      setFields(apiErr.fieldErrors);
      setError(apiErr.code === "conflict" ? "A role with this name already exists." : apiErr.message);
    }
  }
  return (
    <Dialog open title={isNew ? "Create role" : `Edit role ${role.name}`} onClose={onClose}>
      <form onSubmit={onSubmit} className="space-y-3">
        {error && <Alert>{error}</Alert>}
        {isNew && <Field label="Name" required value={name} error={fields.name} onChange={(e) => setName(e.target.value)} />}
        <Field label="Description" value={description} error={fields.description} onChange={(e) => setDescription(e.target.value)} />
        {scopes.data ? <ScopePicker scopes={scopes.data} value={picked} onChange={setPicked} /> : <Loading />}
        {fields.scopes && <p className="field-error">{fields.scopes}</p>}
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className="btn-secondary" onClick={onClose}>Cancel</button>
          <button type="submit" className="btn-primary" disabled={save.isPending}>Save role</button>
        </div>
      </form>
    </Dialog>
  );
}

export default function RolesPage() {
  const me = useAuthStore((s) => s.user);
  const canWrite = hasScope(me, PAGE_SCOPES.rolesWrite);
  const roles = useRoles();
  const qc = useQueryClient();
  const [editing, setEditing] = useState<Role | "new" | null>(null);
  const [deleting, setDeleting] = useState<Role | null>(null);
  const [error, setError] = useState<string | null>(null);
  const remove = useMutation({
    mutationFn: (id: Role["id"]) => send<void>("delete", `/roles/${id}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["roles"] }),
  });
  return (
    <>
      <PageHeader title="Roles">
        {canWrite && (
          <button type="button" className="btn-primary" onClick={() => setEditing("new")}>
            <Plus aria-hidden className="h-4 w-4" /> New role
          </button>
        )}
      </PageHeader>
      {error && <Alert>{error}</Alert>}
      {roles.isLoading ? <Loading /> : roles.isError ? <Alert>{toApiError(roles.error).message}</Alert> : (
        <div className="grid gap-3 lg:grid-cols-2">
          {roles.data?.map((r) => (
            <article key={r.id} className="card">
              <header className="mb-2 flex items-center gap-2">
                <h2 className="text-lg">{r.name}</h2>
                {r.builtin && <span className="badge bg-slate-700 text-amber-100">built-in</span>}
                {canWrite && (
                  <span className="ml-auto flex gap-1">
                    <button type="button" className="btn-icon" aria-label={`Edit role ${r.name}`} onClick={() => setEditing(r)}>
                      <Pencil aria-hidden className="h-4 w-4" />
                    </button>
                    {!r.builtin && (
                      <button type="button" className="btn-icon" aria-label={`Delete role ${r.name}`} onClick={() => setDeleting(r)}>
                        <Trash2 aria-hidden className="h-4 w-4" />
                      </button>
                    )}
                  </span>
                )}
              </header>
              {r.description && <p className="mb-2 text-sm">{r.description}</p>}
              <ul className="flex flex-wrap gap-1" aria-label={`Scopes of ${r.name}`}>
                {r.scopes.map((s) => <li key={s} className="badge bg-slate-800 text-sky-200">{s}</li>)}
              </ul>
            </article>
          ))}
        </div>
      )}
      {editing && <RoleDialog role={editing} onClose={() => setEditing(null)} />}
      <ConfirmDialog
        open={!!deleting}
        title="Delete role"
        message={<>Delete the role <strong>{deleting?.name}</strong>? Users lose the scopes it granted.</>}
        confirmLabel="Delete"
        busy={remove.isPending}
        onCancel={() => setDeleting(null)}
        onConfirm={async () => {
          try {
            if (deleting) await remove.mutateAsync(deleting.id);
          } catch (err) {
            setError(toApiError(err).message);
          }
          setDeleting(null);
        }}
      />
    </>
  );
}
