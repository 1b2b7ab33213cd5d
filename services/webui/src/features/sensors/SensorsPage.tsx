import { useMemo, useState, type FormEvent } from "react";
import { Plus, Trash2 } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { Field } from "../../components/Field";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { toast } from "../../components/Toast";
import { toApiError } from "../../lib/api-error";
import { hasScope, useAuthStore, type User } from "../../lib/auth-store";
import { PAGE_SCOPES } from "../../lib/permissions";
import { DEFAULT_RULESET, resourceErrorMessage, teamRoleHolds, useRuleSets, useSensors, useTeams, type RuleSet, type Sensor, type Team } from "../../lib/tenancy";
import { publishState, useRuleSetStatuses, useSensorMutations, type PublishState } from "./api";

const STATE_TONE: Record<PublishState["label"], string> = {
  "in sync": "bg-emerald-300 text-slate-950",
  pending: "bg-yellow-300 text-slate-950",
  failing: "bg-red-300 text-slate-950",
  unknown: "bg-slate-700 text-amber-100",
};

/** sensors:admin globally, or on this sensor when the server lists the caller's scopes on it. */
function mayAdmin(user: User | null, sensor: Sensor, teams: Team[] | undefined): boolean {
  if (hasScope(user, PAGE_SCOPES.sensorsAdmin)) return true;
  if (teamRoleHolds(teams, sensor.team_id, PAGE_SCOPES.sensorsAdmin)) return true;
  const scopes = (sensor as Sensor & { scopes?: string[] }).scopes;
  return Array.isArray(scopes) && scopes.includes(PAGE_SCOPES.sensorsAdmin);
}

function RegisterDialog({ sets, teams, global, onClose }: { sets: RuleSet[]; teams: Team[]; global: boolean; onClose: () => void }) {
  const { create } = useSensorMutations();
  const [name, setName] = useState("");
  const [address, setAddress] = useState("");
  const [rulesetId, setRulesetId] = useState(String(sets[0]?.id ?? DEFAULT_RULESET));
  const [teamId, setTeamId] = useState(global ? "" : String(teams[0]?.id ?? ""));
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setFields({});
    try {
      await create.mutateAsync({ name: name.trim(), address: address.trim(), ruleset_id: Number(rulesetId), ...(teamId ? { team_id: Number(teamId) } : {}) });
      toast(`Sensor “${name.trim()}” registered`);
      onClose();
    } catch (err) {
      const apiErr = toApiError(err);
      setFields(apiErr.fieldErrorsFor(["name", "address", "ruleset_id", "team_id"]));
      setError(apiErr.status === 409 ? "A sensor with this name or address is already registered." : resourceErrorMessage(err, "The sensor"));
    }
  }
  return (
    <Dialog open title="Register a sensor" onClose={onClose}>
      <form onSubmit={onSubmit} className="space-y-3" noValidate>
        {error && <Alert>{error}</Alert>}
        <Field label="Name" required maxLength={64} value={name} error={fields.name} onChange={(e) => setName(e.target.value)} />
        <Field label="Address" required placeholder="10.0.0.5:50052" hint="The packet service's gRPC address, host:port." value={address} error={fields.address} onChange={(e) => setAddress(e.target.value)} />
        <div>
          <label htmlFor="sensor-ruleset" className="label">Rule set it enforces</label>
          <select id="sensor-ruleset" className="input" value={rulesetId} onChange={(e) => setRulesetId(e.target.value)}>
            {sets.map((s) => <option key={s.id} value={s.id}>{s.name}{s.id === DEFAULT_RULESET ? " (default)" : ""}</option>)}
          </select>
          {fields.ruleset_id && <p className="field-error" role="alert">{fields.ruleset_id}</p>}
        </div>
        <div>
          <label htmlFor="sensor-team" className="label">Owning team</label>
          <select id="sensor-team" className="input" value={teamId} onChange={(e) => setTeamId(e.target.value)}>
            {global && <option value="">No team</option>}
            {teams.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
          </select>
          {fields.team_id && <p className="field-error" role="alert">{fields.team_id}</p>}
        </div>
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className="btn-secondary" onClick={onClose}>Cancel</button>
          <button type="submit" className="btn-primary" disabled={create.isPending}>Register sensor</button>
        </div>
      </form>
    </Dialog>
  );
}

export default function SensorsPage() {
  const me = useAuthStore((s) => s.user);
  const sensors = useSensors();
  const sets = useRuleSets();
  const teams = useTeams();
  const { update, remove } = useSensorMutations();
  const [registering, setRegistering] = useState(false);
  const [removing, setRemoving] = useState<Sensor | null>(null);
  const [error, setError] = useState<string | null>(null);
  // A team admin registers sensors for their team.
  const list = useMemo(() => [...(sensors.data ?? [])].sort((a, b) => a.name.localeCompare(b.name)), [sensors.data]);
  const statuses = useRuleSetStatuses(list.map((s) => s.ruleset_id));
  const setName = (id: number) => sets.data?.find((s) => s.id === id)?.name ?? `rule set #${id}`;
  const teamName = (id: number | null | undefined) => (id == null ? "—" : teams.data?.find((t) => t.id === id)?.name ?? `team #${id}`);

  async function move(sensor: Sensor, rulesetId: number) {
    setError(null);
    try {
      await update.mutateAsync({ id: sensor.id, ruleset_id: rulesetId });
      toast(`Sensor “${sensor.name}” now enforces “${setName(rulesetId)}”`);
    } catch (err) {
      setError(resourceErrorMessage(err, "The sensor"));
    }
  }

  return (
    <>
      <PageHeader title="Sensors">
        {/* Registering names the address the backend dials with its own credential: global
            sensors:admin only (a team-admin renames, moves and removes their team's sensors). */}
        {hasScope(me, PAGE_SCOPES.sensorsAdmin) && (
          <button type="button" className="btn-primary" onClick={() => setRegistering(true)} disabled={!sets.data?.length}>
            <Plus aria-hidden className="h-4 w-4" /> Register sensor
          </button>
        )}
      </PageHeader>
      <p className="mb-3 text-sm muted">Each sensor is a packet service; it enforces the rule set it is attached to. Moving it publishes the other set to it right away.</p>
      {error && <div className="mb-3"><Alert>{error}</Alert></div>}
      {sensors.isLoading ? <Loading /> : sensors.isError ? <Alert>{toApiError(sensors.error).message}</Alert> : (
        <div className="card table-scroll p-0">
          <table className="table">
            <caption className="sr-only">Sensors</caption>
            <thead>
              <tr>
                <th scope="col">Name</th><th scope="col">Address</th><th scope="col">Rule set</th><th scope="col">Team</th><th scope="col">Publish state</th>
                <th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {list.map((s) => {
                const admin = mayAdmin(me, s, teams.data);
                const state = publishState(s, statuses.get(s.ruleset_id));
                const known = sets.data?.some((x) => x.id === s.ruleset_id);
                return (
                  <tr key={s.id} data-testid="sensor-row">
                    <td>{s.name}</td>
                    <td><code className="break-all">{s.address}</code></td>
                    <td>
                      {admin && sets.data?.length ? (
                        <>
                          <label htmlFor={`sensor-set-${s.id}`} className="sr-only">Rule set of {s.name}</label>
                          <select id={`sensor-set-${s.id}`} className="input w-auto py-1" value={s.ruleset_id} disabled={update.isPending}
                            onChange={(e) => void move(s, Number(e.target.value))}>
                            {!known && <option value={s.ruleset_id}>{setName(s.ruleset_id)}</option>}
                            {sets.data.map((x) => <option key={x.id} value={x.id}>{x.name}{x.id === DEFAULT_RULESET ? " (default)" : ""}</option>)}
                          </select>
                        </>
                      ) : setName(s.ruleset_id)}
                    </td>
                    <td>{teamName(s.team_id)}</td>
                    <td data-testid="publish-state">
                      <span className={`badge ${STATE_TONE[state.label]}`}>{state.label}</span>
                      {state.applied !== null && <span className="block text-xs muted">runs version {state.applied}{state.desired !== null && state.desired !== state.applied ? ` of ${state.desired}` : ""}</span>}
                      {state.error && <span className="block text-xs text-red-200">{state.error}</span>}
                    </td>
                    <td className="text-right">
                      {admin && (
                        <button type="button" className="btn-icon" aria-label={`Remove sensor ${s.name}`} onClick={() => setRemoving(s)}>
                          <Trash2 aria-hidden className="h-4 w-4" />
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
              {list.length === 0 && <tr><td colSpan={6} className="muted">No sensors registered.</td></tr>}
            </tbody>
          </table>
        </div>
      )}
      {registering && <RegisterDialog sets={sets.data ?? []} teams={teams.data ?? []} global onClose={() => setRegistering(false)} />}
      <ConfirmDialog
        open={!!removing}
        title="Remove sensor"
        message={<>Remove the sensor <strong>{removing?.name}</strong>? It no longer receives rule sets from Rookery (it keeps enforcing the last one it got).</>}
        confirmLabel="Remove sensor"
        busy={remove.isPending}
        onCancel={() => setRemoving(null)}
        onConfirm={async () => {
          const target = removing;
          setRemoving(null);
          if (!target) return;
          setError(null);
          try {
            await remove.mutateAsync(target.id);
            toast(`Sensor “${target.name}” removed`);
          } catch (err) {
            setError(resourceErrorMessage(err, "The sensor"));
          }
        }}
      />
    </>
  );
}
