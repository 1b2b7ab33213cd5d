import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getData, send } from "../../lib/api-client";
import { toApiError } from "../../lib/api-error";
import type { components } from "../../lib/api-schema.gen";
import { RULESETS_KEY, type RuleSet } from "../../lib/tenancy";

type Schemas = components["schemas"];

/** A grant on one rule set: a user or a team holds a role (or custom scopes) there. */
export type Grant = Partial<Schemas["GrantOut"]> & Pick<Schemas["GrantOut"], "id" | "role">;
export type GrantInput = Schemas["GrantIn"];
export type RuleSetInput = Schemas["RuleSetCreateIn"];

export const grantsKey = (rulesetId: number) => ["rulesets", rulesetId, "grants"] as const;

/**
 * The grants on a rule set. Listing them needs rulesets:admin on the set, so the answer also
 * says whether the caller may manage them: a 403 is `forbidden`, not an error.
 */
export function useGrants(rulesetId: number | undefined, { enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: grantsKey(rulesetId ?? 0),
    queryFn: async (): Promise<{ grants: Grant[]; forbidden: boolean }> => {
      try {
        return { grants: await getData<Grant[]>(`/rulesets/${rulesetId}/grants`), forbidden: false };
      } catch (err) {
        const e = toApiError(err);
        if (e.status === 403 && e.code !== "feature_not_licensed") return { grants: [], forbidden: true };
        throw e;
      }
    },
    enabled: enabled && rulesetId !== undefined,
  });
}

export function useGrantMutations(rulesetId: number) {
  const qc = useQueryClient();
  const done = () => qc.invalidateQueries({ queryKey: grantsKey(rulesetId) });
  return {
    add: useMutation({ mutationFn: (g: GrantInput) => send<Grant>("post", `/rulesets/${rulesetId}/grants`, g), onSuccess: done }),
    remove: useMutation({ mutationFn: (id: number) => send<void>("delete", `/rulesets/${rulesetId}/grants/${id}`), onSuccess: done }),
  };
}

export function useRuleSetMutations() {
  const qc = useQueryClient();
  const done = () => qc.invalidateQueries({ queryKey: RULESETS_KEY });
  return {
    create: useMutation({ mutationFn: (r: RuleSetInput) => send<RuleSet>("post", "/rulesets", r), onSuccess: done }),
    update: useMutation({
      mutationFn: ({ id, ...r }: Schemas["RuleSetPatchIn"] & { id: number }) => send<RuleSet>("patch", `/rulesets/${id}`, r),
      onSuccess: done,
    }),
    remove: useMutation({ mutationFn: (id: number) => send<void>("delete", `/rulesets/${id}`), onSuccess: done }),
  };
}

/** Who a grant is for, in words. */
export function grantee(g: Grant, users: Map<number, string>, teams: Map<number, string>): string {
  if (g.team_id != null) return `Team ${g.holder ?? teams.get(g.team_id) ?? `#${g.team_id}`}`;
  if (g.user_id != null) return g.holder ?? users.get(g.user_id) ?? `User #${g.user_id}`;
  return "—";
}
