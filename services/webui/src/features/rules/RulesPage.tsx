import { useState } from "react";
import { ArrowDown, ArrowUp, GripVertical, Pencil, Plus, Trash2 } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog } from "../../components/Dialog";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { Tabs } from "../../components/Tabs";
import { toApiError } from "../../lib/api-error";
import { formatWhen } from "../../lib/format";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { PAGE_SCOPES } from "../../lib/permissions";
import { dropRule, moveRule, useRuleMutations, useRules, useRuleStatus, type Rule } from "./api";
import { RuleDialog } from "./RuleDialog";

const any = (xs: string[]) => (xs.length ? xs.join(", ") : "any");

const actionTone: Record<string, string> = {
  allow: "bg-emerald-300 text-slate-950",
  drop: "bg-red-300 text-slate-950",
  count: "bg-sky-300 text-slate-950",
};

function RuleTable({ canWrite }: { canWrite: boolean }) {
  const rules = useRules();
  const { remove, reorder, defaultAction } = useRuleMutations();
  const [editing, setEditing] = useState<Rule | "new" | null>(null);
  const [deleting, setDeleting] = useState<Rule | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Drag and drop is the mouse shortcut; the arrow buttons do the same from the keyboard.
  const [dragFrom, setDragFrom] = useState<number | null>(null);
  const [dragOver, setDragOver] = useState<number | null>(null);

  if (rules.isLoading) return <Loading />;
  if (rules.isError) return <Alert>{toApiError(rules.error).message}</Alert>;
  const list = rules.data?.rules ?? [];
  const meta = rules.data?.meta ?? {};

  async function saveOrder(ids: string[]) {
    setError(null);
    if (ids.every((id, i) => id === list[i].id)) return;
    try {
      await reorder.mutateAsync(ids);
    } catch (err) {
      setError(toApiError(err).message);
    }
  }
  const move = (index: number, delta: -1 | 1) => saveOrder(moveRule(list.map((r) => r.id), index, delta));

  return (
    <>
      <div className="mb-3 flex flex-wrap items-center gap-3 text-sm">
        <span>Rule-set version <strong data-testid="ruleset-version">{meta.version ?? "—"}</strong></span>
        {canWrite && meta.default_action ? (
          <label className="flex items-center gap-2">
            Default action
            <select
              className="input w-auto py-1"
              value={meta.default_action}
              disabled={defaultAction.isPending}
              onChange={async (e) => {
                setError(null);
                try {
                  await defaultAction.mutateAsync(e.target.value as "allow" | "drop");
                } catch (err) {
                  setError(toApiError(err).message);
                }
              }}
            >
              <option value="allow">allow</option>
              <option value="drop">drop</option>
            </select>
          </label>
        ) : (
          <span>Default action <strong>{meta.default_action ?? "—"}</strong></span>
        )}
        {!canWrite && <span className="badge bg-slate-700 text-amber-100">read-only</span>}
        {canWrite && (
          <button type="button" className="btn-primary ml-auto" onClick={() => setEditing("new")}>
            <Plus aria-hidden className="h-4 w-4" /> New rule
          </button>
        )}
      </div>
      {error && <Alert>{error}</Alert>}
      <div className="card overflow-x-auto p-0">
        <table className="table">
          <caption className="sr-only">Rules in evaluation order</caption>
          <thead>
            <tr>
              <th scope="col">#</th><th scope="col">Name</th><th scope="col">Action</th><th scope="col">Protocol</th>
              <th scope="col">Source</th><th scope="col">Destination</th><th scope="col">VLAN</th><th scope="col">Enabled</th>
              {canWrite && <th scope="col"><span className="sr-only">Actions</span></th>}
            </tr>
          </thead>
          <tbody>
            {list.map((r, i) => (
              <tr
                key={r.id}
                data-testid="rule-row"
                draggable={canWrite && !reorder.isPending}
                onDragStart={(e) => { setDragFrom(i); e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", r.id); }}
                onDragOver={(e) => { if (dragFrom !== null) { e.preventDefault(); setDragOver(i); } }}
                onDragEnd={() => { setDragFrom(null); setDragOver(null); }}
                onDrop={(e) => {
                  e.preventDefault();
                  if (dragFrom !== null) void saveOrder(dropRule(list.map((x) => x.id), dragFrom, i));
                  setDragFrom(null);
                  setDragOver(null);
                }}
                className={dragOver === i && dragFrom !== i ? "outline outline-2 outline-sky-400" : undefined}
              >
                <td className="whitespace-nowrap">
                  {canWrite && <GripVertical aria-hidden className="mr-1 inline h-4 w-4 cursor-grab text-slate-400" />}
                  {i + 1}
                </td>
                <td>
                  {r.name}
                  {r.description && <span className="block text-xs muted">{r.description}</span>}
                </td>
                <td><span className={`badge ${actionTone[r.action] ?? ""}`}>{r.action}</span></td>
                <td>{String(r.protocol)}</td>
                <td>{any(r.src)}{r.src_ports.length ? <span className="block text-xs muted">ports {r.src_ports.join(", ")}</span> : null}</td>
                <td>{any(r.dst)}{r.dst_ports.length ? <span className="block text-xs muted">ports {r.dst_ports.join(", ")}</span> : null}</td>
                <td>{r.vlan ?? "any"}</td>
                <td>{r.enabled ? "yes" : "no"}</td>
                {canWrite && (
                  <td className="whitespace-nowrap text-right">
                    <span className="inline-flex gap-1">
                      <button type="button" className="btn-icon" aria-label={`Move ${r.name} up`} disabled={i === 0 || reorder.isPending} onClick={() => move(i, -1)}>
                        <ArrowUp aria-hidden className="h-4 w-4" />
                      </button>
                      <button type="button" className="btn-icon" aria-label={`Move ${r.name} down`} disabled={i === list.length - 1 || reorder.isPending} onClick={() => move(i, 1)}>
                        <ArrowDown aria-hidden className="h-4 w-4" />
                      </button>
                      <button type="button" className="btn-icon" aria-label={`Edit ${r.name}`} onClick={() => setEditing(r)}>
                        <Pencil aria-hidden className="h-4 w-4" />
                      </button>
                      <button type="button" className="btn-icon" aria-label={`Delete ${r.name}`} onClick={() => setDeleting(r)}>
                        <Trash2 aria-hidden className="h-4 w-4" />
                      </button>
                    </span>
                  </td>
                )}
              </tr>
            ))}
            {list.length === 0 && <tr><td colSpan={9} className="muted">No rules: every packet gets the default action.</td></tr>}
          </tbody>
        </table>
      </div>
      {editing && <RuleDialog rule={editing} onClose={() => setEditing(null)} />}
      <ConfirmDialog
        open={!!deleting}
        title="Delete rule"
        message={<>Delete the rule <strong>{deleting?.name}</strong>? Packet services receive the new rule set right away.</>}
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

function SyncStatus() {
  const status = useRuleStatus();
  if (status.isLoading) return <Loading />;
  if (status.isError) return <Alert>{toApiError(status.error).message}</Alert>;
  const s = status.data!;
  return (
    <section aria-labelledby="sync-title" className="space-y-3">
      <h2 id="sync-title" className="text-lg">Rule-set distribution</h2>
      <p className="text-sm">
        Desired version <strong>{s.desired_version}</strong> ·{" "}
        <span className={`badge ${s.state === "in_sync" ? "bg-emerald-300 text-slate-950" : "bg-yellow-300 text-slate-950"}`} data-testid="sync-state">
          {s.state === "in_sync" ? "in sync" : "pending"}
        </span>
      </p>
      <div className="card overflow-x-auto p-0">
        <table className="table">
          <caption className="sr-only">Packet service targets</caption>
          <thead><tr><th scope="col">Target</th><th scope="col">Applied version</th><th scope="col">Last publish</th><th scope="col">Breaker</th><th scope="col">Last error</th></tr></thead>
          <tbody>
            {s.targets.map((t) => (
              <tr key={t.target}>
                <td><code>{t.target}</code></td>
                <td>{t.applied_version ?? "—"}</td>
                <td>{formatWhen(t.last_publish_at)}</td>
                <td>{t.breaker_state}</td>
                <td className="text-red-200">{t.last_error ?? "—"}</td>
              </tr>
            ))}
            {s.targets.length === 0 && <tr><td colSpan={5} className="muted">No packet services configured.</td></tr>}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export default function RulesPage() {
  const user = useAuthStore((s) => s.user);
  const canWrite = hasScope(user, PAGE_SCOPES.rulesWrite);
  const [tab, setTab] = useState("rules");
  return (
    <>
      <PageHeader title="Rules" />
      <Tabs
        label="Rules sections"
        active={tab}
        onChange={setTab}
        tabs={[
          { id: "rules", label: "Rule set", content: <RuleTable canWrite={canWrite} /> },
          { id: "status", label: "Sync status", content: <SyncStatus /> },
        ]}
      />
    </>
  );
}
