import { useMemo, useState, type FormEvent } from "react";
import { Trash2 } from "lucide-react";
import { Alert } from "../../components/Alert";
import { Dialog } from "../../components/Dialog";
import { Loading } from "../../components/Loading";
import { AccountField, accountRef } from "../../components/AccountField";
import { toast } from "../../components/Toast";
import { toApiError } from "../../lib/api-error";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { GRANT_ROLE_NAMES, resourceErrorMessage, useTeams, useUserDirectory, type RuleSet } from "../../lib/tenancy";
import { grantee, useGrantMutations, useGrants, type GrantInput } from "./rulesets";

const ROLE_HELP: Record<string, string> = {
  owner: "edits the rules and decides who else may use the set",
  editor: "reads and edits the rules",
  viewer: "reads the rules and their statistics",
};

/** Who may use one rule set besides the global roles and its team: list, add, remove. */
export function GrantsDialog({ set, onClose }: { set: RuleSet; onClose: () => void }) {
  const me = useAuthStore((s) => s.user);
  const grants = useGrants(set.id);
  const { add, remove } = useGrantMutations(set.id);
  const teams = useTeams();
  const directory = useUserDirectory({ enabled: hasScope(me, "users:read") });
  const [kind, setKind] = useState<"user" | "team">("user");
  const [userText, setUserText] = useState("");
  const [teamId, setTeamId] = useState("");
  const [role, setRole] = useState<GrantInput["role"]>("viewer");
  const [error, setError] = useState<string | null>(null);
  const [fieldError, setFieldError] = useState<string | undefined>();
  const users = useMemo(() => new Map((directory.data ?? []).map((u) => [u.id, u.email])), [directory.data]);
  const teamNames = useMemo(() => new Map((teams.data ?? []).map((t) => [t.id, t.name])), [teams.data]);

  async function onAdd(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setFieldError(undefined);
    let body: GrantInput;
    if (kind === "user") {
      const account = accountRef(userText, hasScope(me, "users:read"));
      if ("error" in account) {
        setFieldError(account.error);
        return;
      }
      body = { ...account.ref, role };
    } else {
      if (!teamId) {
        setFieldError("Choose a team.");
        return;
      }
      body = { team_id: Number(teamId), role };
    }
    try {
      await add.mutateAsync(body);
      toast(`Granted ${role} on “${set.name}”`);
      setUserText("");
    } catch (err) {
      const apiErr = toApiError(err);
      const named = apiErr.fieldErrorsFor(["email", "user_id", "team_id"]);
      if (apiErr.status === 409) setError("This user or team already has a grant on this rule set: remove it first to change the role.");
      else if (apiErr.status === 404 && "email" in body) setFieldError("No account has this e-mail address.");
      else if (apiErr.status === 404 && "user_id" in body) setFieldError("No user has this id.");
      else if (apiErr.status === 404 && "team_id" in body) setFieldError("No such team (or not one you may see).");
      else if (apiErr.status === 422 && (named.email || named.user_id)) setFieldError(named.email ?? named.user_id);
      else setError(resourceErrorMessage(err, "The grant"));
    }
  }

  const list = grants.data?.grants ?? [];
  return (
    <Dialog open title={`Grants on rule set ${set.name}`} onClose={onClose}>
      <div className="space-y-4">
        {grants.isLoading && <Loading />}
        {grants.isError && <Alert>{toApiError(grants.error).message}</Alert>}
        {grants.data?.forbidden && <Alert>Your account may not manage who uses this rule set (it needs rulesets:admin on it).</Alert>}
        {grants.data && !grants.data.forbidden && (
          <table className="table">
            <caption className="sr-only">Grants on {set.name}</caption>
            <thead><tr><th scope="col">Who</th><th scope="col">Role</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.map((g) => {
                const who = grantee(g, users, teamNames);
                return (
                  <tr key={g.id} data-testid="grant-row">
                    <td>{who}</td>
                    <td>{g.role}{g.role === "custom" && g.scopes?.length ? <span className="block text-xs muted">{g.scopes.join(", ")}</span> : null}</td>
                    <td className="text-right">
                      <button
                        type="button"
                        className="btn-icon"
                        aria-label={`Remove the grant of ${who}`}
                        disabled={remove.isPending}
                        onClick={async () => {
                          setError(null);
                          try {
                            await remove.mutateAsync(g.id);
                            toast(`Removed the grant of ${who}`);
                          } catch (err) {
                            setError(resourceErrorMessage(err, "The grant"));
                          }
                        }}
                      >
                        <Trash2 aria-hidden className="h-4 w-4" />
                      </button>
                    </td>
                  </tr>
                );
              })}
              {list.length === 0 && <tr><td colSpan={3} className="muted">No grants: only global roles and the owning team have access.</td></tr>}
            </tbody>
          </table>
        )}
        {error && <Alert>{error}</Alert>}
        {grants.data && !grants.data.forbidden && (
          <form onSubmit={onAdd} className="space-y-3 border-t border-slate-700 pt-3" aria-label="Add a grant">
            <fieldset className="flex gap-4 text-sm">
              <legend className="label">Grant to</legend>
              <label className="flex items-center gap-1"><input type="radio" name="grant-kind" checked={kind === "user"} onChange={() => setKind("user")} /> a user</label>
              <label className="flex items-center gap-1"><input type="radio" name="grant-kind" checked={kind === "team"} onChange={() => setKind("team")} /> a team</label>
            </fieldset>
            {kind === "user" ? (
              <AccountField value={userText} onChange={setUserText} error={fieldError} />
            ) : (
              <div>
                <label htmlFor="grant-team" className="label">Team</label>
                <select id="grant-team" className="input" value={teamId} onChange={(e) => setTeamId(e.target.value)} aria-invalid={fieldError ? true : undefined}>
                  <option value="">Choose a team…</option>
                  {teams.data?.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
                </select>
                {fieldError && <p className="field-error" role="alert">{fieldError}</p>}
              </div>
            )}
            <div>
              <label htmlFor="grant-role" className="label">Role</label>
              <select id="grant-role" className="input" value={role} onChange={(e) => setRole(e.target.value as GrantInput["role"])}>
                {GRANT_ROLE_NAMES.map((r) => <option key={r} value={r}>{r}: {ROLE_HELP[r]}</option>)}
              </select>
            </div>
            <div className="flex justify-end gap-2">
              <button type="button" className="btn-secondary" onClick={onClose}>Close</button>
              <button type="submit" className="btn-primary" disabled={add.isPending}>Add grant</button>
            </div>
          </form>
        )}
        {grants.data?.forbidden && (
          <div className="flex justify-end"><button type="button" className="btn-secondary" onClick={onClose}>Close</button></div>
        )}
      </div>
    </Dialog>
  );
}
