import { useQueries } from "@tanstack/react-query";
import { api, getData, type Envelope } from "../../lib/api-client";
import type { ApiError } from "../../lib/api-error";

export interface ApiKey {
  id: number | string;
  name: string;
  prefix: string;
  scopes: string[];
  key?: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  user_id?: number | string;
  revoked?: boolean;
}

/** Who holds a key, as far as the keys page needs to know. */
export interface KeyOwner {
  id: number | string;
  email: string;
  service_account?: boolean;
}

/**
 * Revoking a built-in service account's key stops what it runs (rule publishing, sibling
 * services); the backend refuses with protected_account until asked again with force.
 */
export async function revokeKey(id: ApiKey["id"], force = false): Promise<ApiKey> {
  const res = await api.delete<Envelope<ApiKey>>(`/apikeys/${id}`, { params: force ? { force: true } : undefined });
  return res.data.data;
}

export function isProtectedAccount(err: ApiError): boolean {
  return err.status === 409 && err.code === "protected_account";
}

/** The backend's warning without its advice to API callers (the dialog asks instead). */
export function protectedWarning(err: ApiError): string {
  return err.message.replace(/\s*Repeat with force=true[^.]*\.?\s*$/, "");
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
