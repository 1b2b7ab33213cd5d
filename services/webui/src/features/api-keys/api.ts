import { useQueries } from "@tanstack/react-query";
import { api, getData, type Envelope } from "../../lib/api-client";
import type { components } from "../../lib/api-schema.gen";
import type { User } from "../../lib/auth-store";


/** A key as listed (GET /apikeys); the secret is never listed. */
export type ApiKey = components["schemas"]["ApiKeyOut"];
/** A key just created or rotated: the only answer that carries the secret `key`. */
export type CreatedApiKey = components["schemas"]["ApiKeyCreatedOut"];
/** POST /apikeys. */
export type ApiKeyInput = components["schemas"]["ApiKeyCreateIn"];

/** Who holds a key, as far as the keys page needs to know. */
export type KeyOwner = Pick<User, "id" | "email" | "service_account">;

/**
 * Revoking a built-in service account's key stops what it runs (rule publishing, sibling
 * services); the backend refuses with protected_account until asked again with force.
 */
export async function revokeKey(id: ApiKey["id"], force = false): Promise<ApiKey> {
  const res = await api.delete<Envelope<ApiKey>>(`/apikeys/${id}`, { params: force ? { force: true } : undefined });
  return res.data.data;
}

/**
 * The owners of the listed keys (one request per distinct owner: a handful, cached), so the
 * "every user's keys" view can say whose each key is and mark the service accounts.
 */
export function useKeyOwners(keys: ApiKey[], enabled: boolean): Map<string, KeyOwner> {
  const ids = enabled ? [...new Set(keys.map((k) => k.user_id).filter((id) => id !== undefined))] : [];
  const results = useQueries({
    queries: ids.map((id) => ({
      queryKey: ["apikey-owner", String(id)],
      queryFn: () => getData<KeyOwner>(`/users/${id}`),
      staleTime: 5 * 60_000,
    })),
  });
  const owners = new Map<string, KeyOwner>();
  results.forEach((r) => {
    if (r.data) owners.set(String(r.data.id), r.data);
  });
  return owners;
}
