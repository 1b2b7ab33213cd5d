import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, getData, getPage, send } from "../../lib/api-client";

export type RuleAction = "allow" | "drop" | "count";

export interface Rule {
  id: string;
  name: string;
  action: RuleAction;
  protocol: string | number;
  src: string[];
  dst: string[];
  src_ports: string[];
  dst_ports: string[];
  vlan: number | null;
  enabled: boolean;
  description: string;
  position: number;
}

export type RuleInput = Omit<Rule, "id" | "position">;

export interface RuleSetMeta {
  version?: number;
  default_action?: string;
  total?: number;
}

export interface RuleStatus {
  desired_version: number;
  state: "in_sync" | "pending";
  targets: {
    target: string;
    applied_version: number | null;
    last_publish_at: string | number | null;
    last_contact_at?: string | number | null;
    last_error: string | null;
    breaker_state: string;
  }[];
}

export function useRules() {
  return useQuery({
    queryKey: ["rules"],
    queryFn: async () => {
      const res = await getPage<Rule[]>("/rules", { per_page: 1000 });
      const rules = [...res.data].sort((a, b) => a.position - b.position);
      return { rules, meta: (res.meta ?? {}) as RuleSetMeta };
    },
  });
}

export function useRuleStatus() {
  return useQuery({
    queryKey: ["rules", "status"],
    queryFn: () => getData<RuleStatus>("/rules/status"),
    refetchInterval: 5000,
  });
}

export function useRuleMutations() {
  const qc = useQueryClient();
  const done = () => qc.invalidateQueries({ queryKey: ["rules"] });
  return {
    create: useMutation({ mutationFn: (r: RuleInput) => send<Rule>("post", "/rules", r), onSuccess: done }),
    update: useMutation({
      mutationFn: ({ id, ...r }: Partial<RuleInput> & { id: string }) => send<Rule>("patch", `/rules/${id}`, r),
      onSuccess: done,
    }),
    remove: useMutation({ mutationFn: (id: string) => send<void>("delete", `/rules/${id}`), onSuccess: done }),
    defaultAction: useMutation({
      mutationFn: (action: "allow" | "drop") => api.put("/rules/default-action", { default_action: action }),
      onSuccess: done,
    }),
    reorder: useMutation({ mutationFn: (ids: string[]) => send<unknown>("post", "/rules/reorder", { ids }), onSuccess: done }),
  };
}

/** "10.0.0.0/8, 192.168.1.0/24" → ["10.0.0.0/8", "192.168.1.0/24"] */
export function splitList(text: string): string[] {
  return text.split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
}

/** A protocol typed as digits is sent as a number, names as strings. */
export function parseProtocol(text: string): string | number {
  const t = text.trim().toLowerCase();
  return /^\d+$/.test(t) ? Number(t) : t || "any";
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
