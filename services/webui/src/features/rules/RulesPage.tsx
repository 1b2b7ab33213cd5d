import { useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { ArrowDown, ArrowUp, CheckCircle2, GripVertical, Loader2, Pencil, Plus, Trash2, X, XCircle } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog } from "../../components/Dialog";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { Pagination } from "../../components/Pagination";
import { SortHeader } from "../../components/SortHeader";
import { Tabs } from "../../components/Tabs";
import { toast } from "../../components/Toast";
import { toApiError } from "../../lib/api-error";
import { deploymentProblem } from "../../lib/deployment";
import { formatWhen } from "../../lib/format";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { PAGE_SCOPES } from "../../lib/permissions";
import { intParam, useUrlState } from "../../lib/use-url-state";
import { DEFAULT_RULESET, isForbidden, mayOnRuleSet, useRuleSets } from "../../lib/tenancy";
import { dropRule, moveRule, RuleSetContext, ruleSetRoutes, useRuleMutations, useRules, useRuleStatus, type Rule, type WriteMeta } from "./api";
import { RuleDialog } from "./RuleDialog";
import { RuleSetBar } from "./RuleSetBar";

const any = (xs: string[]) => (xs.length ? xs.join(", ") : "any");

const actionTone: Record<string, string> = {
  allow: "bg-emerald-300 text-slate-950",
  drop: "bg-red-300 text-slate-950",
  count: "bg-sky-300 text-slate-950",
};

const RULE_VIEW = { q: "", action: "", enabled: "", sort: "position", page: "1", per: "25" };
const PER_PAGE = [10, 25, 50, 100] as const;
const HIGHLIGHT_MS = 4000;

/** The change whose deployment the page is following, and what to call it. */
interface Follow {
  version: number;
  what: string;
  publish?: WriteMeta["publish"];
}

function sortValue(r: Rule, column: string): string | number {
  switch (column) {
    case "name": return r.name.toLowerCase();
    case "action": return r.action;
    case "protocol": return String(r.protocol);
    case "vlan": return r.vlan ?? -1;
    case "enabled": return r.enabled ? 1 : 0;
    default: return r.position;
  }
}

function matches(r: Rule, q: string): boolean {
  const text = [r.name, r.description, String(r.protocol), ...r.src, ...r.dst, ...r.src_ports, ...r.dst_ports, r.vlan ?? ""].join(" ").toLowerCase();
  return q.toLowerCase().split(/\s+/).filter(Boolean).every((word) => text.includes(word));
}

/**
 * Follows a change until every packet service runs it, right where the change was made:
 * "deploying", then "live", or the failing targets and why.
 */
export function DeploymentFollow({ follow, onDismiss }: { follow: Follow; onDismiss: () => void }) {
  const status = useRuleStatus();
  const s = status.data;
  const dismiss = (
    <button type="button" className="ml-auto rounded p-0.5 hover:bg-white/10" aria-label="Dismiss deployment status" onClick={onDismiss}>
      <X aria-hidden className="h-4 w-4" />
    </button>
  );
  let tone = "border-amber-400 bg-slate-900 text-amber-50";
  let body: ReactNode;
  if (follow.publish === "no_targets" || (s && s.targets.length === 0)) {
    body = <span>{follow.what}: saved as version {follow.version}. No packet services are configured, so there is nothing to deploy.</span>;
  } else if (!s || s.desired_version < follow.version) {
    body = <span><Loader2 aria-hidden className="mr-1 inline h-4 w-4 animate-spin" />{follow.what}: deploying version {follow.version}…</span>;
  } else {
    const { failing, pending } = deploymentProblem(s);
    const total = s.targets.length;
    if (s.state === "in_sync") {
      tone = "border-emerald-400 bg-emerald-950 text-emerald-50";
      body = <span><CheckCircle2 aria-hidden className="mr-1 inline h-4 w-4" />{follow.what}: version {s.desired_version} is live on {total === 1 ? "the packet service" : `all ${total} packet services`}.</span>;
    } else if (failing.length) {
      tone = "border-red-400 bg-red-950 text-red-50";
      body = (
        <div>
          <p><XCircle aria-hidden className="mr-1 inline h-4 w-4" />{follow.what}: version {s.desired_version} is not deployed on {failing.length} of {total} packet service{total === 1 ? "" : "s"}. It will be retried automatically.</p>
          <ul className="mt-1 list-disc pl-6">
            {failing.map((t) => (
              <li key={t.target}>
                <code className="break-all">{t.target}</code> runs version {t.applied_version ?? "none"}: {t.last_error ?? "not reachable"}
                {t.breaker_state === "open" ? " (paused after repeated failures)" : ""}
              </li>
            ))}
          </ul>
        </div>
      );
    } else {
      body = <span><Loader2 aria-hidden className="mr-1 inline h-4 w-4 animate-spin" />{follow.what}: deploying version {s.desired_version}; {total - pending.length} of {total} packet services confirmed…</span>;
    }
  }
  return (
    <div role="status" data-testid="deployment-follow" className={`mb-3 flex items-start gap-2 rounded-md border px-3 py-2 text-sm ${tone}`}>
      <div className="flex-1">{body}</div>
      {dismiss}
    </div>
  );
}

function RuleTable({ canWrite }: { canWrite: boolean }) {
  const rules = useRules();
  const { remove, reorder, defaultAction } = useRuleMutations();
  const [view, setView] = useUrlState(RULE_VIEW);
  const [editing, setEditing] = useState<Rule | "new" | null>(null);
  const [deleting, setDeleting] = useState<Rule | null>(null);
  const [newDefault, setNewDefault] = useState<"allow" | "drop" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [follow, setFollow] = useState<Follow | null>(null);
  // The row the user just acted on: shown, highlighted and focused after the list reloads.
  const [focusId, setFocusId] = useState<string | null>(null);
  const [highlightId, setHighlightId] = useState<string | null>(null);
  const tbody = useRef<HTMLTableSectionElement>(null);
  // Drag and drop is the mouse shortcut; the arrow buttons do the same from the keyboard.
  const [dragFrom, setDragFrom] = useState<number | null>(null);
  const [dragOver, setDragOver] = useState<number | null>(null);

  const list = useMemo(() => rules.data?.rules ?? [], [rules.data]);
  const meta = rules.data?.meta ?? {};
  const perPage = intParam(view.per, 25, PER_PAGE);
  const sortColumn = view.sort.replace(/^-/, "");
  const descending = view.sort.startsWith("-");
  const filtered = view.q !== "" || view.action !== "" || view.enabled !== "";
  // Reordering only makes sense on the whole list in evaluation order.
  const canReorder = canWrite && !filtered && view.sort === "position";

  const shown = useMemo(() => {
    const out = list.filter(
      (r) => matches(r, view.q) && (!view.action || r.action === view.action) && (!view.enabled || String(r.enabled) === view.enabled),
    );
    out.sort((a, b) => {
      const x = sortValue(a, sortColumn);
      const y = sortValue(b, sortColumn);
      const c = x < y ? -1 : x > y ? 1 : a.position - b.position;
      return descending ? -c : c;
    });
    return out;
  }, [list, view.q, view.action, view.enabled, sortColumn, descending]);
  const pages = Math.max(1, Math.ceil(shown.length / perPage));
  const page = Math.min(intParam(view.page, 1), pages);
  const pageRows = shown.slice((page - 1) * perPage, page * perPage);

  // Bring the acted-on row into view: its page, then scroll, focus and highlight.
  useEffect(() => {
    if (!focusId || !rules.data) return;
    const index = shown.findIndex((r) => r.id === focusId);
    if (index < 0) {
      if (filtered && list.some((r) => r.id === focusId)) setView({ q: "", action: "", enabled: "" }, { replace: true });
      return;
    }
    const want = Math.floor(index / perPage) + 1;
    if (want !== page) {
      setView({ page: String(want) }, { replace: true });
      return;
    }
    const row = tbody.current?.querySelector<HTMLTableRowElement>(`tr[data-rule-id="${CSS.escape(focusId)}"]`);
    if (!row) return;
    row.scrollIntoView?.({ block: "nearest" });
    row.querySelector<HTMLButtonElement>("button[data-edit]")?.focus({ preventScroll: true });
    setHighlightId(focusId);
    setFocusId(null);
  }, [focusId, shown, page, perPage, filtered, list, rules.data, setView]);
  useEffect(() => {
    if (!highlightId) return;
    const t = setTimeout(() => setHighlightId(null), HIGHLIGHT_MS);
    return () => clearTimeout(t);
  }, [highlightId]);

  if (rules.isLoading) return <Loading />;
  if (rules.isError) {
    return <Alert>{isForbidden(rules.error) ? "Your account may not read this rule set's rules." : toApiError(rules.error).message}</Alert>;
  }

  const followWrite = (what: string, written: WriteMeta) => {
    if (written.version !== undefined) setFollow({ version: written.version, what, publish: written.publish });
  };

  async function saveOrder(ids: string[], movedId: string) {
    setError(null);
    if (ids.every((id, i) => id === list[i].id)) return;
    try {
      const written = await reorder.mutateAsync(ids);
      const moved = list.find((r) => r.id === movedId);
      toast(`Moved “${moved?.name}” to position ${ids.indexOf(movedId) + 1}`);
      followWrite("New order", written.meta);
      setHighlightId(movedId);
    } catch (err) {
      setError(toApiError(err).message);
    }
  }
  const ids = list.map((r) => r.id);
  const move = (index: number, delta: -1 | 1) => saveOrder(moveRule(ids, index, delta), ids[index]);
  const onSort = (sort: string) => setView({ sort, page: "1" });

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
              onChange={(e) => setNewDefault(e.target.value as "allow" | "drop")}
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
      {follow && <DeploymentFollow follow={follow} onDismiss={() => setFollow(null)} />}
      {error && <div className="mb-3"><Alert>{error}</Alert></div>}
      <div className="mb-3 grid gap-2 sm:grid-cols-[1fr_auto_auto]" role="search" aria-label="Rule filters">
        <div>
          <label htmlFor="rule-filter" className="sr-only">Filter rules</label>
          <input id="rule-filter" type="search" className="input" placeholder="Filter by name, address, port…" value={view.q}
            onChange={(e) => setView({ q: e.target.value, page: "1" }, { replace: true })} />
        </div>
        <div>
          <label htmlFor="rule-filter-action" className="sr-only">Action</label>
          <select id="rule-filter-action" className="input" value={view.action} onChange={(e) => setView({ action: e.target.value, page: "1" })}>
            <option value="">Any action</option>
            <option value="allow">allow</option>
            <option value="drop">drop</option>
            <option value="count">count</option>
          </select>
        </div>
        <div>
          <label htmlFor="rule-filter-enabled" className="sr-only">Enabled</label>
          <select id="rule-filter-enabled" className="input" value={view.enabled} onChange={(e) => setView({ enabled: e.target.value, page: "1" })}>
            <option value="">Enabled or not</option>
            <option value="true">Enabled only</option>
            <option value="false">Disabled only</option>
          </select>
        </div>
      </div>
      {canWrite && !canReorder && list.length > 1 && (
        <p className="mb-2 text-xs muted">
          Sorted or filtered: clear the filters and sort by # to change the evaluation order.{" "}
          <button type="button" className="underline" onClick={() => setView({ q: "", action: "", enabled: "", sort: "position", page: "1" })}>Show evaluation order</button>
        </p>
      )}
      <div className="card table-scroll p-0">
        <table className="table">
          <caption className="sr-only">Rules{view.sort === "position" ? " in evaluation order" : ""}</caption>
          <thead>
            <tr>
              <SortHeader column="position" sort={view.sort} onSort={onSort}>#</SortHeader>
              <SortHeader column="name" sort={view.sort} onSort={onSort}>Name</SortHeader>
              <SortHeader column="action" sort={view.sort} onSort={onSort}>Action</SortHeader>
              <SortHeader column="protocol" sort={view.sort} onSort={onSort}>Protocol</SortHeader>
              <th scope="col">Source</th><th scope="col">Destination</th>
              <SortHeader column="vlan" sort={view.sort} onSort={onSort}>VLAN</SortHeader>
              <SortHeader column="enabled" sort={view.sort} onSort={onSort}>Enabled</SortHeader>
              {canWrite && <th scope="col"><span className="sr-only">Actions</span></th>}
            </tr>
          </thead>
          <tbody ref={tbody}>
            {pageRows.map((r) => {
              const i = list.indexOf(r); // place in evaluation order
              return (
                <tr
                  key={r.id}
                  data-testid="rule-row"
                  data-rule-id={r.id}
                  draggable={canReorder && !reorder.isPending}
                  onDragStart={(e) => { setDragFrom(i); e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", r.id); }}
                  onDragOver={(e) => { if (dragFrom !== null) { e.preventDefault(); setDragOver(i); } }}
                  onDragEnd={() => { setDragFrom(null); setDragOver(null); }}
                  onDrop={(e) => {
                    e.preventDefault();
                    if (dragFrom !== null) void saveOrder(dropRule(ids, dragFrom, i), ids[dragFrom]);
                    setDragFrom(null);
                    setDragOver(null);
                  }}
                  className={[
                    dragOver === i && dragFrom !== i ? "outline outline-2 outline-amber-400" : "",
                    highlightId === r.id ? "row-highlight" : "",
                  ].join(" ").trim() || undefined}
                >
                  <td className="whitespace-nowrap">
                    {canReorder && <GripVertical aria-hidden className="mr-1 inline h-4 w-4 cursor-grab text-slate-400" />}
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
                        {canReorder && (
                          <>
                            <button type="button" className="btn-icon" aria-label={`Move ${r.name} up`} disabled={i === 0 || reorder.isPending} onClick={() => move(i, -1)}>
                              <ArrowUp aria-hidden className="h-4 w-4" />
                            </button>
                            <button type="button" className="btn-icon" aria-label={`Move ${r.name} down`} disabled={i === list.length - 1 || reorder.isPending} onClick={() => move(i, 1)}>
                              <ArrowDown aria-hidden className="h-4 w-4" />
                            </button>
                          </>
                        )}
                        <button type="button" className="btn-icon" data-edit aria-label={`Edit ${r.name}`} onClick={() => setEditing(r)}>
                          <Pencil aria-hidden className="h-4 w-4" />
                        </button>
                        <button type="button" className="btn-icon" aria-label={`Delete ${r.name}`} onClick={() => setDeleting(r)}>
                          <Trash2 aria-hidden className="h-4 w-4" />
                        </button>
                      </span>
                    </td>
                  )}
                </tr>
              );
            })}
            {list.length === 0 && <tr><td colSpan={9} className="muted">No rules: every packet gets the default action.</td></tr>}
            {list.length > 0 && shown.length === 0 && <tr><td colSpan={9} className="muted">No rule matches the filter.</td></tr>}
          </tbody>
        </table>
      </div>
      <Pagination
        page={page}
        perPage={perPage}
        total={shown.length}
        pageSizes={PER_PAGE}
        onPage={(p) => setView({ page: String(p) })}
        onPerPage={(n) => setView({ per: String(n), page: "1" })}
      />
      {editing && (
        <RuleDialog
          rule={editing}
          onClose={() => setEditing(null)}
          onSaved={(saved, written, created) => {
            toast(created ? `Rule “${saved.name}” created` : `Rule “${saved.name}” saved`);
            followWrite(created ? `Rule “${saved.name}”` : `Changes to “${saved.name}”`, written);
            setFocusId(saved.id);
          }}
        />
      )}
      <ConfirmDialog
        open={!!deleting}
        title="Delete rule"
        message={<>Delete the rule <strong>{deleting?.name}</strong>? Packet services receive the new rule set right away.</>}
        confirmLabel="Delete"
        busy={remove.isPending}
        onCancel={() => setDeleting(null)}
        onConfirm={async () => {
          const target = deleting;
          setDeleting(null);
          if (!target) return;
          try {
            const written = await remove.mutateAsync(target.id);
            toast(`Rule “${target.name}” deleted`);
            followWrite(`Deleting “${target.name}”`, written.meta);
          } catch (err) {
            setError(toApiError(err).message);
          }
        }}
      />
      <ConfirmDialog
        open={!!newDefault}
        title="Change the default action"
        tone={newDefault === "drop" ? "danger" : "primary"}
        message={
          <>
            Set the default action to <strong>{newDefault}</strong>?{" "}
            {newDefault === "drop"
              ? "Every packet that no rule allows will be dropped"
              : "Every packet that no rule drops will be let through"}
            , as soon as the packet services receive the new rule set — right away.
          </>
        }
        confirmLabel={`Set default to ${newDefault ?? ""}`}
        busy={defaultAction.isPending}
        onCancel={() => setNewDefault(null)}
        onConfirm={async () => {
          const action = newDefault;
          setNewDefault(null);
          if (!action) return;
          setError(null);
          try {
            const written = await defaultAction.mutateAsync(action);
            toast(`Default action set to ${action}`);
            followWrite(`Default action ${action}`, written.meta);
          } catch (err) {
            setError(toApiError(err).message);
          }
        }}
      />
    </>
  );
}

function SyncStatus() {
  const status = useRuleStatus();
  if (status.isLoading) return <Loading />;
  if (status.isError) {
    return <Alert>{isForbidden(status.error) ? "Your account may not read this rule set's deployment status." : toApiError(status.error).message}</Alert>;
  }
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
      <div className="card table-scroll p-0">
        <table className="table">
          <caption className="sr-only">Packet service targets</caption>
          <thead><tr><th scope="col">Sensor</th><th scope="col">Applied version</th><th scope="col">Last publish</th><th scope="col">Breaker</th><th scope="col">Last error</th></tr></thead>
          <tbody>
            {s.targets.map((t) => (
              <tr key={t.target}>
                <td>{t.name && <span className="block">{t.name}</span>}<code>{t.target}</code></td>
                <td>{t.applied_version ?? "—"}</td>
                <td>{formatWhen(t.last_publish_at)}</td>
                <td>{t.breaker_state}</td>
                <td className="text-red-200">{t.last_error ?? "—"}</td>
              </tr>
            ))}
            {s.targets.length === 0 && <tr><td colSpan={5} className="muted">No sensor is attached to this rule set.</td></tr>}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export default function RulesPage() {
  const user = useAuthStore((s) => s.user);
  const globalRead = hasScope(user, PAGE_SCOPES.rules);
  const [view, setView] = useUrlState({ tab: "rules", set: "" });
  // The rule sets the caller may read (the listing shows no others). A backend or a caller
  // without the listing still has the default set through /rules.
  const sets = useRuleSets();
  const list = sets.data ?? [];
  const wanted = Number(view.set);
  const fallback = globalRead ? DEFAULT_RULESET : list[0]?.id;
  const id = Number.isInteger(wanted) && wanted > 0 ? wanted : fallback;
  const current = list.find((s) => s.id === id);
  const knownHidden = !globalRead && sets.isSuccess && id !== undefined && !current;
  // rules:write on this set: globally, or as the listing says the caller holds it there
  // (their role in the owning team, their grants).
  const canWrite = mayOnRuleSet(user, current, PAGE_SCOPES.rulesWrite, false);
  const select = (next: number) => setView({ set: next === DEFAULT_RULESET ? "" : String(next) });
  if (!globalRead && sets.isPending) return <><PageHeader title="Rules" /><Loading /></>;
  return (
    <>
      <PageHeader title="Rules" />
      {sets.isSuccess && list.length > 0 && <RuleSetBar sets={list} current={current} onSelect={select} canWrite={canWrite} />}
      {knownHidden || id === undefined ? (
        <Alert>This rule set does not exist or your account may not read it. Choose one of the rule sets above.</Alert>
      ) : (
        <RuleSetContext.Provider key={id} value={ruleSetRoutes(id, globalRead)}>
          <Tabs
            label="Rules sections"
            active={view.tab === "status" ? "status" : "rules"}
            onChange={(tab) => setView({ tab })}
            tabs={[
              { id: "rules", label: "Rule set", content: <RuleTable canWrite={canWrite} /> },
              { id: "status", label: "Sync status", content: <SyncStatus /> },
            ]}
          />
        </RuleSetContext.Provider>
      )}
    </>
  );
}
