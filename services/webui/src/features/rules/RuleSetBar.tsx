import { useState, type FormEvent } from "react";
import { KeyRound, Pencil, Plus, Trash2 } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { Field } from "../../components/Field";
import { toast } from "../../components/Toast";
import { toApiError } from "../../lib/api-error";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { PAGE_SCOPES } from "../../lib/permissions";
import { DEFAULT_RULESET, mayOnRuleSet, resourceErrorMessage, teamRoleHolds, useTeams, type RuleSet, type Team } from "../../lib/tenancy";
import { GrantsDialog } from "./GrantsDialog";
import { useRuleSetMutations } from "./rulesets";

export function ruleSetLabel(s: RuleSet, teams: Team[] | undefined): string {
  const team = s.team_id != null ? teams?.find((t) => t.id === s.team_id)?.name ?? `team #${s.team_id}` : null;
  return `${s.name}${s.id === DEFAULT_RULESET ? " (default)" : ""}${team ? ` · ${team}` : ""}`;
}

function RuleSetDialog({ set, teams, onClose, onSaved }: {
  set: RuleSet | "new";
  teams: Team[];
  onClose: () => void;
  onSaved: (saved: RuleSet) => void;
}) {
  const isNew = set === "new";
  const me = useAuthStore((s) => s.user);
  const { create, update } = useRuleSetMutations();
  const [name, setName] = useState(isNew ? "" : set.name);
  const [description, setDescription] = useState(isNew ? "" : set.description ?? "");
  // A global rulesets:admin may make a set of no team; a team admin makes one for their team.
  const [teamId, setTeamId] = useState(isNew ? (hasScope(me, PAGE_SCOPES.rulesetsAdmin) ? "" : String(teams[0]?.id ?? "")) : "");
  const [defaultAction, setDefaultAction] = useState<"allow" | "drop">("allow");
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const busy = create.isPending || update.isPending;

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setFields({});
    try {
      const saved = isNew
        ? await create.mutateAsync({ name: name.trim(), description: description.trim(), default_action: defaultAction, ...(teamId ? { team_id: Number(teamId) } : {}) })
        : await update.mutateAsync({ id: set.id, name: name.trim(), description: description.trim() });
      toast(isNew ? `Rule set “${saved?.name ?? name}” created` : `Rule set “${saved?.name ?? name}” saved`);
      onSaved(saved);
      onClose();
    } catch (err) {
      const apiErr = toApiError(err);
      setFields(apiErr.fieldErrorsFor(["name", "description", "team_id", "default_action"]));
      setError(apiErr.status === 409 ? "A rule set with this name already exists: choose another name." : resourceErrorMessage(err, "The rule set"));
    }
  }
  return (
    <Dialog open title={isNew ? "Create a rule set" : `Edit rule set ${set.name}`} onClose={onClose}>
      <form onSubmit={onSubmit} className="space-y-3" noValidate>
        {error && <Alert>{error}</Alert>}
        <Field label="Name" required maxLength={64} value={name} error={fields.name} onChange={(e) => setName(e.target.value)} />
        <Field label="Description" value={description} error={fields.description} onChange={(e) => setDescription(e.target.value)} />
        {isNew && (
          <>
            <div>
              <label htmlFor="ruleset-team" className="label">Owning team</label>
              <select id="ruleset-team" className="input" value={teamId} onChange={(e) => setTeamId(e.target.value)}>
                {hasScope(me, PAGE_SCOPES.rulesetsAdmin) && <option value="">No team (global)</option>}
                {teams.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
              </select>
              {fields.team_id && <p className="field-error" role="alert">{fields.team_id}</p>}
            </div>
            <div>
              <label htmlFor="ruleset-default" className="label">Default action</label>
              <select id="ruleset-default" className="input" value={defaultAction} onChange={(e) => setDefaultAction(e.target.value as "allow" | "drop")}>
                <option value="allow">allow</option>
                <option value="drop">drop</option>
              </select>
            </div>
          </>
        )}
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className="btn-secondary" onClick={onClose}>Cancel</button>
          <button type="submit" className="btn-primary" disabled={busy}>{isNew ? "Create rule set" : "Save rule set"}</button>
        </div>
      </form>
    </Dialog>
  );
}

/**
 * The rule-set switcher above the rules: which set the page shows (default first), and what
 * the caller may do with it — edit its name, delete it, manage its grants, make a new one.
 * Buttons follow what is known: the global scopes, the set's listed scopes when the server
 * sends them, and for grants whether the grants listing answers (it needs rulesets:admin).
 */
export function RuleSetBar({ sets, current, onSelect, canWrite }: {
  sets: RuleSet[];
  current: RuleSet | undefined;
  onSelect: (id: number) => void;
  /** rules:write on the current set (the page worked it out). */
  canWrite: boolean;
}) {
  const me = useAuthStore((s) => s.user);
  const teams = useTeams();
  const { remove } = useRuleSetMutations();
  const globalAdmin = hasScope(me, PAGE_SCOPES.rulesetsAdmin);
  // Whether the caller administers this set: globally, or as the listing says they hold it
  // there (their role in the owning team, an owner grant).
  const canAdmin = !!current && (globalAdmin || mayOnRuleSet(me, current, "rulesets:admin", false));
  const canEdit = !!current && (canWrite || canAdmin);
  // A team admin makes rule sets for their team.
  const adminTeams = (teams.data ?? []).filter((t) => teamRoleHolds(teams.data, t.id, "rulesets:admin"));
  const canCreate = globalAdmin || adminTeams.length > 0;
  const [dialog, setDialog] = useState<"new" | "edit" | "grants" | "delete" | null>(null);
  const [error, setError] = useState<string | null>(null);

  return (
    <div className="mb-4 space-y-2">
      <div className="flex flex-wrap items-end gap-2">
        <div>
          <label htmlFor="ruleset-switch" className="label">Rule set</label>
          <select
            id="ruleset-switch"
            className="input w-auto min-w-[16rem]"
            value={current?.id ?? ""}
            onChange={(e) => onSelect(Number(e.target.value))}
          >
            {!current && <option value="">—</option>}
            {sets.map((s) => <option key={s.id} value={s.id}>{ruleSetLabel(s, teams.data)}</option>)}
          </select>
        </div>
        {current && canEdit && (
          <button type="button" className="btn-secondary" onClick={() => setDialog("edit")}>
            <Pencil aria-hidden className="h-4 w-4" /> Rename
          </button>
        )}
        {current && canAdmin && (
          <button type="button" className="btn-secondary" onClick={() => setDialog("grants")}>
            <KeyRound aria-hidden className="h-4 w-4" /> Grants
          </button>
        )}
        {current && canAdmin && current.id !== DEFAULT_RULESET && (
          <button type="button" className="btn-secondary" onClick={() => setDialog("delete")}>
            <Trash2 aria-hidden className="h-4 w-4" /> Delete set
          </button>
        )}
        {canCreate && (
          <button type="button" className="btn-secondary" onClick={() => setDialog("new")}>
            <Plus aria-hidden className="h-4 w-4" /> Add a rule set
          </button>
        )}
      </div>
      {current?.description && <p className="text-sm muted">{current.description}</p>}
      {error && <Alert>{error}</Alert>}
      {(dialog === "new" || (dialog === "edit" && current)) && (
        <RuleSetDialog
          set={dialog === "new" ? "new" : current!}
          teams={globalAdmin ? teams.data ?? [] : adminTeams}
          onClose={() => setDialog(null)}
          onSaved={(saved) => { if (dialog === "new" && saved?.id) onSelect(saved.id); }}
        />
      )}
      {dialog === "grants" && current && <GrantsDialog set={current} onClose={() => setDialog(null)} />}
      <ConfirmDialog
        open={dialog === "delete" && !!current}
        title="Delete rule set"
        message={<>Delete the rule set <strong>{current?.name}</strong> and its rules? Sensors must be moved to another set first.</>}
        confirmLabel="Delete rule set"
        busy={remove.isPending}
        onCancel={() => setDialog(null)}
        onConfirm={async () => {
          const target = current;
          setDialog(null);
          if (!target) return;
          setError(null);
          try {
            await remove.mutateAsync(target.id);
            toast(`Rule set “${target.name}” deleted`);
            onSelect(DEFAULT_RULESET);
          } catch (err) {
            const e = toApiError(err);
            setError(e.status === 409 ? `The rule set “${target.name}” is still in use (sensors are attached to it): move them first. ${e.serverMessage}` : resourceErrorMessage(err, "The rule set"));
          }
        }}
      />
    </div>
  );
}
