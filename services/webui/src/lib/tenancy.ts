import { useQuery } from "@tanstack/react-query";
import { getData } from "./api-client";
import { ApiError, toApiError } from "./api-error";
import { hasScope, useAuthStore, type User } from "./auth-store";
import type { components } from "./api-schema.gen";

/**
 * Teams, rule sets and sensors: what more than one page needs (the Rules page's switcher,
 * the dashboard's filter, the Sensors and Teams pages, the sidebar).
 *
 * Access has three levels: global scopes (in the token, `user.scopes`), the caller's team
 * role in the team owning a resource, and grants on one rule set. The last two are resolved
 * by the server per request, so the browser learns them from what the API lists (a listing
 * shows only what the caller may read) and from 403 answers, never from the token.
 */

type Schemas = components["schemas"];

/**
 * The API's records (api-schema.gen.ts). Only id and name are required here, so a page
 * works with what an older or newer backend sends; `my_scopes` on a rule set is what the
 * caller holds there, as the server resolved it.
 */
type Loose<T, K extends keyof T> = Partial<T> & Pick<T, K>;
export type RuleSet = Loose<Schemas["RuleSetOut"], "id" | "name">;
export type Team = Loose<Schemas["TeamOut"], "id" | "name">;
export type Sensor = Loose<Schemas["SensorOut"], "id" | "name" | "address" | "ruleset_id">;

/** The default rule set: row 1, also served by the /rules routes. */
export const DEFAULT_RULESET = 1;

export const TEAM_ROLE_NAMES = ["team-admin", "team-maintainer", "team-viewer"] as const;

/** What the built-in team roles hold on the team's resources (the backend's policy table). */
export const TEAM_ROLE_SCOPES: Record<string, readonly string[]> = {
  "team-admin": ["teams:read", "teams:admin", "rulesets:admin", "rules:read", "rules:write", "stats:read", "sensors:read", "sensors:admin"],
  "team-maintainer": ["teams:read", "rules:read", "rules:write", "stats:read", "sensors:read"],
  "team-viewer": ["teams:read", "rules:read", "stats:read", "sensors:read"],
};

/**
 * Does the caller's role in team `teamId` (from the teams listing's my_role) hold `scope`?
 * Unknown (a custom team role, or not a member) is false: the API still decides.
 */
export function teamRoleHolds(teams: Team[] | undefined, teamId: number | null | undefined, scope: string): boolean {
  if (teamId == null) return false;
  const role = teams?.find((t) => t.id === teamId)?.my_role;
  return !!role && (TEAM_ROLE_SCOPES[role] ?? []).includes(scope);
}
export const GRANT_ROLE_NAMES = ["owner", "editor", "viewer"] as const;

/** The default set first, then by name: the order of every picker. */
export function sortRuleSets(sets: RuleSet[]): RuleSet[] {
  return [...sets].sort((a, b) => (a.id === DEFAULT_RULESET ? -1 : b.id === DEFAULT_RULESET ? 1 : a.name.localeCompare(b.name) || a.id - b.id));
}

/**
 * A listing the caller may not see at all answers 403 insufficient_scope (`Listed` routes
 * need the scope somewhere): that is "nothing visible", not an error to show in the sidebar.
 */
async function listOrNothing<T>(url: string, params?: Record<string, unknown>): Promise<T[]> {
  try {
    return await getData<T[]>(url, params);
  } catch (err) {
    const e = toApiError(err);
    // A licence without teams is worth saying on the page (feature_not_licensed): kept.
    if (e.status === 403 && e.code !== "feature_not_licensed") return [];
    throw e;
  }
}

export const RULESETS_KEY = ["rulesets"] as const;
export const TEAMS_KEY = ["teams"] as const;
export const SENSORS_KEY = ["sensors"] as const;

/** The rule sets the caller may read, default first. */
export function useRuleSets({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: RULESETS_KEY,
    queryFn: async () => sortRuleSets(await listOrNothing<RuleSet>("/rulesets", { per_page: 1000 })),
    enabled,
    staleTime: 15_000,
  });
}

export function useTeams({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({ queryKey: TEAMS_KEY, queryFn: () => listOrNothing<Team>("/teams", { per_page: 200 }), enabled, staleTime: 15_000 });
}

export function useSensors({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({ queryKey: SENSORS_KEY, queryFn: () => listOrNothing<Sensor>("/sensors", { per_page: 200 }), enabled, staleTime: 15_000 });
}

/** The sections whose access may come from a team or a grant as well as a global scope. */
export type ResourcePage = "dashboard" | "rules" | "teams" | "sensors";

const GLOBAL_SCOPE: Record<ResourcePage, string> = {
  dashboard: "stats:read",
  rules: "rules:read",
  teams: "teams:read",
  sensors: "sensors:read",
};

export type Access = "yes" | "no" | "checking";

/**
 * Whether the caller may open a section: yes with the global scope; otherwise yes when the
 * API lists something for them there (a team they belong to, a rule set granted to them).
 * The dashboard follows the rule sets: reading a set's rules brings its statistics along.
 */
export function useSectionAccess(page: ResourcePage): Access {
  const user = useAuthStore((s) => s.user);
  const global = hasScope(user, GLOBAL_SCOPE[page]);
  const probe = !global && !!user;
  const sets = useRuleSets({ enabled: probe && (page === "rules" || page === "dashboard") });
  const teams = useTeams({ enabled: probe && page === "teams" });
  const sensors = useSensors({ enabled: probe && page === "sensors" });
  if (global) return "yes";
  if (!user) return "no";
  const q = page === "teams" ? teams : page === "sensors" ? sensors : sets;
  if (q.isPending) return "checking";
  return q.data && q.data.length > 0 ? "yes" : "no";
}

/** Every section's access at once (the sidebar). */
export function useAllSectionAccess(): Record<ResourcePage, Access> {
  return {
    dashboard: useSectionAccess("dashboard"),
    rules: useSectionAccess("rules"),
    teams: useSectionAccess("teams"),
    sensors: useSectionAccess("sensors"),
  };
}

/**
 * What the caller may do on one rule set: the global scopes, plus what the server says it
 * holds there (`my_scopes`: team role, grants). Without that (an older backend), `null`:
 * only the API knows, and a 403 answer tells.
 */
export function ruleSetScopes(user: User | null, set: RuleSet | undefined): Set<string> | null {
  const global = new Set(user?.scopes ?? []);
  if (!set) return global;
  if (Array.isArray(set.my_scopes)) return new Set([...global, ...set.my_scopes]);
  return null;
}

/**
 * May the caller use `scope` on the rule set? True or false when known; when the server does
 * not list per-set scopes, the global scope decides if held, and otherwise `fallback`.
 */
export function mayOnRuleSet(user: User | null, set: RuleSet | undefined, scope: string, fallback: boolean): boolean {
  if (hasScope(user, scope)) return true;
  const scopes = ruleSetScopes(user, set);
  return scopes ? scopes.has(scope) : fallback;
}

/** A 403 from a route that acts on one resource, in plain words. */
export function isForbidden(err: unknown): boolean {
  const e = err instanceof ApiError ? err : toApiError(err);
  return e.status === 403 && e.code !== "feature_not_licensed";
}

/** The API's words for 409/422 and the rest, with what a person should do. */
export function resourceErrorMessage(err: unknown, what: string): string {
  const e = toApiError(err);
  if (e.status === 409) {
    if (e.code === "conflict") return `${what} conflicts with one that already exists (the name is taken, or it is still in use). ${e.serverMessage}`.trim();
    return e.serverMessage || e.message;
  }
  if (e.status === 404) return `${what} no longer exists: someone removed it meanwhile. Reload the page.`;
  return e.message;
}

/** One page of the user directory (GET /users needs users:read), for pickers: id → e-mail. */
export function useUserDirectory({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: ["users", "directory"],
    queryFn: async () => {
      const users = await getData<{ id: number; email: string }[]>("/users", { per_page: 200 });
      return users.map((u) => ({ id: u.id, email: u.email }));
    },
    enabled,
    staleTime: 30_000,
  });
}
