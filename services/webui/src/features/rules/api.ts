import { createContext, useContext } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, getData, getPage, type Envelope } from "../../lib/api-client";
import type { components } from "../../lib/api-schema.gen";
import { POLL_IDLE_MS, POLL_PENDING_MS, useDeploymentStatus, type RuleStatus } from "../../lib/deployment";
import { DEFAULT_RULESET } from "../../lib/tenancy";

export type { RuleStatus };

/** A rule as the API answers it (GET /rules, and every rule write). */
export type Rule = components["schemas"]["RuleOut"];
/** POST /rules: a new rule (the server gives it an id and the last position). */
export type RuleInput = components["schemas"]["RuleIn"];
/** PATCH /rules/{id}: only the fields that change. */
export type RulePatch = components["schemas"]["RulePatchIn"];
export type RuleAction = RuleInput["action"];
export const RULE_ACTIONS: readonly RuleAction[] = ["allow", "drop", "count"];

/** The API answers a rule's action as a plain string; the form needs one of the three. */
export function ruleAction(action: string | undefined): RuleAction | undefined {
  return RULE_ACTIONS.find((a) => a === action);
}
/** What a packet no rule matches gets. */
export type DefaultAction = NonNullable<components["schemas"]["DefaultActionIn"]["default_action"]>;

export interface RuleSetMeta {
  version?: number;
  default_action?: string;
  total?: number;
}

/** What every write answers besides the data: the new rule-set version and how publishing went. */
export interface WriteMeta {
  version?: number;
  publish?: "applied" | "pending" | "no_targets";
}

export interface Written<T> {
  data: T;
  meta: WriteMeta;
}

async function write<T>(method: "post" | "patch" | "delete" | "put", url: string, body?: unknown): Promise<Written<T>> {
  const res = await api.request<Envelope<T>>({ method, url, data: body });
  return { data: res.data?.data, meta: (res.data?.meta ?? {}) as WriteMeta };
}

/** The largest page GET /rules serves. */
export const RULES_PAGE = 1000;
const READ_ATTEMPTS = 3;

export interface RuleSetPage {
  data: Rule[];
  meta?: Record<string, unknown>;
}

/**
 * The whole rule set, in order: the table reorders by rule id, so it needs every rule,
 * read a page of RULES_PAGE at a time. Pages that come from different versions (a write
 * landed between two requests) are not joined: the read starts over, a few times at most.
 */
export async function readRuleSet(fetchPage: (page: number) => Promise<RuleSetPage>): Promise<{ rules: Rule[]; meta: RuleSetMeta }> {
  for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    const first = await fetchPage(1);
    const meta = (first.meta ?? {}) as RuleSetMeta;
    const rules = [...first.data];
    const total = meta.total ?? rules.length;
    let sameVersion = true;
    for (let page = 2; rules.length < total; page++) {
      const next = await fetchPage(page);
      if ((next.meta as RuleSetMeta | undefined)?.version !== meta.version) {
        sameVersion = false;
        break;
      }
      if (!next.data.length) break;
      rules.push(...next.data);
    }
    if (sameVersion) return { rules: rules.sort((a, b) => a.position - b.position), meta };
  }
  throw new Error("The rule set kept changing while it was being read; try again.");
}

/**
 * Where one rule set's rules live. The default set keeps today's /rules routes for a caller
 * who reads rules globally ("legacy"); every other set, and the default set for a caller
 * who reaches it only through a team or a grant, is /rulesets/{id}/….
 */
export interface RuleSetRoutes {
  id: number;
  legacy: boolean;
  rules: string;
  rule: (ruleId: string) => string;
  reorder: string;
  status: string;
  /** Cache key prefix of this set's rules (its status is under it). */
  key: readonly unknown[];
}

export function ruleSetRoutes(id: number, legacy: boolean): RuleSetRoutes {
  if (legacy && id === DEFAULT_RULESET) {
    return { id, legacy: true, rules: "/rules", rule: (r) => `/rules/${r}`, reorder: "/rules/reorder", status: "/rules/status", key: ["rules"] };
  }
  const base = `/rulesets/${id}`;
  return {
    id,
    legacy: false,
    rules: `${base}/rules`,
    rule: (r) => `${base}/rules/${r}`,
    reorder: `${base}/rules/reorder`,
    status: `${base}/status`,
    key: ["rules", "set", id],
  };
}

/** The rule set the Rules page works on; the dialogs read it too. The default: today's /rules. */
export const RuleSetContext = createContext<RuleSetRoutes>(ruleSetRoutes(DEFAULT_RULESET, true));
export const useRuleSetRoutes = () => useContext(RuleSetContext);

export function useRules() {
  const routes = useRuleSetRoutes();
  return useQuery({
    queryKey: routes.legacy ? routes.key : [...routes.key, "list"],
    queryFn: () => readRuleSet((page) => getPage<Rule[]>(routes.rules, { page, per_page: RULES_PAGE })),
  });
}

export function useRuleStatus() {
  const routes = useRuleSetRoutes();
  // The default set's status is the one the deployment banner shares (one cache entry).
  const legacy = useDeploymentStatus({ enabled: routes.legacy });
  const other = useQuery({
    queryKey: [...routes.key, "status"],
    queryFn: () => getData<RuleStatus>(routes.status),
    enabled: !routes.legacy,
    refetchInterval: (q) => (q.state.data?.state === "pending" ? POLL_PENDING_MS : POLL_IDLE_MS),
  });
  return routes.legacy ? legacy : other;
}

export function useRuleMutations() {
  const routes = useRuleSetRoutes();
  const qc = useQueryClient();
  const done = () => qc.invalidateQueries({ queryKey: ["rules"] });
  return {
    create: useMutation({ mutationFn: (r: RuleInput) => write<Rule>("post", routes.rules, r), onSuccess: done }),
    update: useMutation({
      mutationFn: ({ id, ...r }: RulePatch & { id: string }) => write<Rule>("patch", routes.rule(id), r),
      onSuccess: done,
    }),
    remove: useMutation({ mutationFn: (id: string) => write<Rule>("delete", routes.rule(id)), onSuccess: done }),
    defaultAction: useMutation({
      mutationFn: (action: DefaultAction) =>
        routes.legacy
          ? write<RuleStatus>("put", "/rules/default-action", { default_action: action } satisfies components["schemas"]["DefaultActionIn"])
          : write<unknown>("patch", `/rulesets/${routes.id}`, { default_action: action }),
      onSuccess: () => {
        void qc.invalidateQueries({ queryKey: ["rulesets"] });
        return done();
      },
    }),
    reorder: useMutation({
      mutationFn: (ids: string[]) => write<Rule[]>("post", routes.reorder, { ids } satisfies components["schemas"]["ReorderIn"]),
      onSuccess: done,
    }),
  };
}

/** "10.0.0.0/8, 192.168.1.0/24" → ["10.0.0.0/8", "192.168.1.0/24"] */
export function splitList(text: string): string[] {
  return text.split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
}

/**
 * The protocol as the API takes it: always a string ("tcp", "6"); the API refuses a JSON
 * number where a string belongs.
 */
export function parseProtocol(text: string): string {
  const t = text.trim().toLowerCase();
  return /^\d+$/.test(t) ? String(Number(t)) : t || "any";
}

/** Swaps the rule at `index` with its neighbour; returns the new id order. */
export function moveRule(ids: string[], index: number, delta: -1 | 1): string[] {
  const target = index + delta;
  if (target < 0 || target >= ids.length) return ids;
  const next = [...ids];
  [next[index], next[target]] = [next[target], next[index]];
  return next;
}

/** Takes the rule at `from` out and puts it at `to` (drag and drop); returns the new id order. */
export function dropRule(ids: string[], from: number, to: number): string[] {
  if (from === to || from < 0 || to < 0 || from >= ids.length || to >= ids.length) return ids;
  const next = [...ids];
  const [moved] = next.splice(from, 1);
  next.splice(to, 0, moved);
  return next;
}
