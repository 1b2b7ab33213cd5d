import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Pencil, Plus, Trash2 } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { Field } from "../../components/Field";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { AccountField, accountRef } from "../../components/AccountField";
import { toast } from "../../components/Toast";
import { toApiError } from "../../lib/api-error";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { PAGE_SCOPES } from "../../lib/permissions";
import { resourceErrorMessage, TEAM_ROLE_SCOPES, useTeams, useUserDirectory, type Team } from "../../lib/tenancy";
import { useUrlState } from "../../lib/use-url-state";
import { memberName, useMemberMutations, useMembers, useTeamMutations, useTeamRoleNames, type Member } from "./api";

function TeamDialog({ team, onClose, onSaved }: { team: Team | "new"; onClose: () => void; onSaved: (t: Team) => void }) {
  const isNew = team === "new";
  const { create, update } = useTeamMutations();
  const [name, setName] = useState(isNew ? "" : team.name);
  const [description, setDescription] = useState(isNew ? "" : team.description ?? "");
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setFields({});
    const body = { name: name.trim(), description: description.trim() };
    try {
      const saved = isNew ? await create.mutateAsync(body) : await update.mutateAsync({ id: team.id, ...body });
      toast(isNew ? `Team “${body.name}” created` : `Team “${body.name}” saved`);
      onSaved(saved);
      onClose();
    } catch (err) {
      const apiErr = toApiError(err);
      setFields(apiErr.fieldErrorsFor(["name", "description"]));
      setError(apiErr.status === 409 ? "A team with this name already exists: choose another name." : resourceErrorMessage(err, "The team"));
    }
  }
  return (
    <Dialog open title={isNew ? "New team" : `Edit team ${team.name}`} onClose={onClose}>
      <form onSubmit={onSubmit} className="space-y-3" noValidate>
        {error && <Alert>{error}</Alert>}
        <Field label="Name" required maxLength={64} value={name} error={fields.name} onChange={(e) => setName(e.target.value)} />
        <Field label="Description" value={description} error={fields.description} onChange={(e) => setDescription(e.target.value)} />
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className="btn-secondary" onClick={onClose}>Cancel</button>
          <button type="submit" className="btn-primary" disabled={create.isPending || update.isPending}>{isNew ? "Create team" : "Save team"}</button>
        </div>
      </form>
    </Dialog>
  );
}

/** A team's members and their team roles; managing them needs teams:admin on the team. */
function Members({ team, onCanManage }: { team: Team; onCanManage?: (v: boolean) => void }) {
  const me = useAuthStore((s) => s.user);
  const members = useMembers(team.id);
  const roles = useTeamRoleNames();
  const directory = useUserDirectory({ enabled: hasScope(me, "users:read") });
  const { add, change, remove } = useMemberMutations(team.id);
  const [userText, setUserText] = useState("");
  const [role, setRole] = useState("team-viewer");
  const [error, setError] = useState<string | null>(null);
  const [fieldError, setFieldError] = useState<string | undefined>();
  const [removing, setRemoving] = useState<Member | null>(null);
  const names = useMemo(() => new Map((directory.data ?? []).map((u) => [u.id, u.email])), [directory.data]);
  const list = members.data ?? [];
  // Managing members needs teams:admin on this team: globally, or as its team-admin.
  const mine = list.find((m) => m.user_id === me?.id);
  const canManage =
    hasScope(me, PAGE_SCOPES.teamsAdmin) || !!team.my_role && (TEAM_ROLE_SCOPES[team.my_role] ?? []).includes(PAGE_SCOPES.teamsAdmin) || !!mine?.scopes?.includes(PAGE_SCOPES.teamsAdmin);
  useEffect(() => onCanManage?.(canManage), [canManage, onCanManage]);
  const roleNames = roles.data ?? ["team-admin", "team-maintainer", "team-viewer"];

  async function onAdd(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setFieldError(undefined);
    const account = accountRef(userText, hasScope(me, "users:read"));
    if ("error" in account) {
      setFieldError(account.error);
      return;
    }
    try {
      const added = await add.mutateAsync({ ...account.ref, role });
      toast(`Added ${added.email} to ${team.name} as ${role}`);
      setUserText("");
    } catch (err) {
      const apiErr = toApiError(err);
      const named = apiErr.fieldErrorsFor(["email", "user_id"]);
      if (apiErr.status === 409) setError("This user is already a member of the team: change their role in the list instead.");
      else if (apiErr.status === 404 && "email" in account.ref) setFieldError("No account has this e-mail address.");
      else if (apiErr.status === 404) setFieldError("No user has this id.");
      else if (apiErr.status === 422 && (named.email || named.user_id)) setFieldError(named.email ?? named.user_id);
      else setError(resourceErrorMessage(err, "The membership"));
    }
  }

  if (members.isLoading) return <Loading />;
  if (members.isError) return <Alert>{toApiError(members.error).message}</Alert>;
  return (
    <section aria-labelledby="members-title" className="space-y-3">
      <h2 id="members-title" className="text-lg">Members of {team.name}</h2>
      {error && <Alert>{error}</Alert>}
      <div className="card table-scroll p-0">
        <table className="table">
          <caption className="sr-only">Members of {team.name}</caption>
          <thead><tr><th scope="col">Member</th><th scope="col">Team role</th>{canManage && <th scope="col"><span className="sr-only">Actions</span></th>}</tr></thead>
          <tbody>
            {list.map((m) => {
              const who = memberName(m, names);
              return (
                <tr key={m.user_id} data-testid="member-row">
                  <td>{who}</td>
                  <td>
                    {canManage ? (
                      <>
                        <label htmlFor={`role-${m.user_id}`} className="sr-only">Team role of {who}</label>
                        <select
                          id={`role-${m.user_id}`}
                          className="input w-auto py-1"
                          value={m.role}
                          disabled={change.isPending}
                          onChange={async (e) => {
                            const next = e.target.value;
                            setError(null);
                            try {
                              await change.mutateAsync({ user_id: m.user_id, role: next });
                              toast(`${who} is now ${next}`);
                            } catch (err) {
                              setError(resourceErrorMessage(err, "The membership"));
                            }
                          }}
                        >
                          {(roleNames.includes(m.role) ? roleNames : [...roleNames, m.role]).map((r) => <option key={r} value={r}>{r}</option>)}
                        </select>
                      </>
                    ) : m.role}
                  </td>
                  {canManage && (
                    <td className="text-right">
                      <button type="button" className="btn-icon" aria-label={`Remove ${who} from the team`} onClick={() => setRemoving(m)}>
                        <Trash2 aria-hidden className="h-4 w-4" />
                      </button>
                    </td>
                  )}
                </tr>
              );
            })}
            {list.length === 0 && <tr><td colSpan={3} className="muted">No members yet.</td></tr>}
          </tbody>
        </table>
      </div>
      {canManage && (
        <form onSubmit={onAdd} className="card grid gap-3 sm:grid-cols-[1fr_auto_auto] sm:items-end" aria-label="Add a member">
          <AccountField value={userText} onChange={setUserText} error={fieldError} label="New member" />
          <div>
            <label htmlFor="member-role" className="label">Team role</label>
            <select id="member-role" className="input" value={role} onChange={(e) => setRole(e.target.value)}>
              {roleNames.map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
          </div>
          <button type="submit" className="btn-primary" disabled={add.isPending}><Plus aria-hidden className="h-4 w-4" /> Add member</button>
        </form>
      )}
      <ConfirmDialog
        open={!!removing}
        title="Remove member"
        message={<>Remove <strong>{removing ? memberName(removing, names) : ""}</strong> from {team.name}? They lose what the team role gave them on its rule sets and sensors.</>}
        confirmLabel="Remove"
        busy={remove.isPending}
        onCancel={() => setRemoving(null)}
        onConfirm={async () => {
          const target = removing;
          setRemoving(null);
          if (!target) return;
          setError(null);
          try {
            await remove.mutateAsync(target.user_id);
            toast(`${memberName(target, names)} removed from ${team.name}`);
          } catch (err) {
            setError(resourceErrorMessage(err, "The membership"));
          }
        }}
      />
    </section>
  );
}

export default function TeamsPage() {
  const me = useAuthStore((s) => s.user);
  const globalAdmin = hasScope(me, PAGE_SCOPES.teamsAdmin);
  const teams = useTeams();
  const { remove } = useTeamMutations();
  const [view, setView] = useUrlState({ team: "" });
  const [editing, setEditing] = useState<Team | "new" | null>(null);
  const [deleting, setDeleting] = useState<Team | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [canManageSelected, setCanManageSelected] = useState(false);
  const list = useMemo(() => [...(teams.data ?? [])].sort((a, b) => a.name.localeCompare(b.name)), [teams.data]);
  const selected = list.find((t) => String(t.id) === view.team) ?? list[0];

  return (
    <>
      <PageHeader title="Teams">
        {globalAdmin && (
          <button type="button" className="btn-primary" onClick={() => setEditing("new")}>
            <Plus aria-hidden className="h-4 w-4" /> New team
          </button>
        )}
      </PageHeader>
      {error && <div className="mb-3"><Alert>{error}</Alert></div>}
      {teams.isLoading ? <Loading /> : teams.isError ? <Alert>{toApiError(teams.error).message}</Alert> : (
        <div className="grid gap-4 lg:grid-cols-[20rem_1fr]">
          <section aria-labelledby="teams-title">
            <h2 id="teams-title" className="sr-only">Teams</h2>
            <ul className="space-y-2">
              {list.map((t) => {
                const active = selected?.id === t.id;
                return (
                  <li key={t.id} data-testid="team-row" className={`card flex items-start gap-2 ${active ? "outline outline-2 outline-amber-400" : ""}`}>
                    <button type="button" className="flex-1 text-left" aria-current={active ? "true" : undefined} onClick={() => setView({ team: String(t.id) })}>
                      <span className="block font-medium text-amber-50">{t.name}</span>
                      {t.description && <span className="block text-xs muted">{t.description}</span>}
                      {typeof t.member_count === "number" && <span className="block text-xs muted">{t.member_count} member{t.member_count === 1 ? "" : "s"}</span>}
                    </button>
                    {(globalAdmin || (active && canManageSelected)) && (
                      <button type="button" className="btn-icon" aria-label={`Edit team ${t.name}`} onClick={() => setEditing(t)}>
                        <Pencil aria-hidden className="h-4 w-4" />
                      </button>
                    )}
                    {globalAdmin && (
                      <button type="button" className="btn-icon" aria-label={`Delete team ${t.name}`} onClick={() => setDeleting(t)}>
                        <Trash2 aria-hidden className="h-4 w-4" />
                      </button>
                    )}
                  </li>
                );
              })}
              {list.length === 0 && <li className="muted">No teams yet.{globalAdmin ? " Create one to give a group its own rule sets and sensors." : ""}</li>}
            </ul>
          </section>
          {selected && <Members key={selected.id} team={selected} onCanManage={setCanManageSelected} />}
        </div>
      )}
      {editing && <TeamDialog team={editing} onClose={() => setEditing(null)} onSaved={(t) => { if (editing === "new" && t?.id) setView({ team: String(t.id) }); }} />}
      <ConfirmDialog
        open={!!deleting}
        title="Delete team"
        message={<>Delete the team <strong>{deleting?.name}</strong>? Its members lose what their team role gave them.</>}
        confirmLabel="Delete team"
        busy={remove.isPending}
        onCancel={() => setDeleting(null)}
        onConfirm={async () => {
          const target = deleting;
          setDeleting(null);
          if (!target) return;
          setError(null);
          try {
            await remove.mutateAsync(target.id);
            toast(`Team “${target.name}” deleted`);
            if (view.team === String(target.id)) setView({ team: "" });
          } catch (err) {
            const e = toApiError(err);
            setError(e.status === 409 ? `The team “${target.name}” still owns rule sets or sensors: move or delete them first. ${e.serverMessage}` : resourceErrorMessage(err, "The team"));
          }
        }}
      />
    </>
  );
}
