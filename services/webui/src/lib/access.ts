import { useQuery } from "@tanstack/react-query";
import { getData } from "./api-client";
import type { components } from "./api-schema.gen";

/** A role (built-in or custom) and the scopes it grants. */
export type Role = components["schemas"]["RoleOut"];
/** One entry of the scope catalogue (GET /scopes). */
export type Scope = components["schemas"]["ScopeOut"];

/**
 * The roles and the scope catalogue: the users page picks roles, the roles and API-keys
 * pages pick scopes. One cache entry each, whichever page asks first.
 */
export function useRoles(enabled = true) {
  return useQuery({ queryKey: ["roles"], queryFn: () => getData<Role[]>("/roles"), enabled });
}

export function useScopeCatalogue() {
  return useQuery({ queryKey: ["scopes"], queryFn: () => getData<Scope[]>("/scopes"), staleTime: 300_000 });
}
