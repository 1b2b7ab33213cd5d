import { AxiosError, AxiosHeaders, type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from "axios";
import { api } from "../lib/api-client";
import type { User } from "../lib/auth-store";

export interface Recorded {
  method: string;
  url: string;
  headers: AxiosHeaders;
  body: unknown;
  /** The query string's parameters (axios `params`), as the server would read them. */
  params: Record<string, string>;
}

type Handler = (req: Recorded) => { status: number; body?: unknown; headers?: Record<string, string> } | Promise<{ status: number; body?: unknown; headers?: Record<string, string> }>;

/**
 * Replaces the transport of the app's one axios client with a scripted backend, so the
 * client's own logic (headers, refresh, retries, error mapping) runs unmodified.
 */
export function installFakeBackend(routes: Record<string, Handler>) {
  const calls: Recorded[] = [];
  const adapter: AxiosAdapter = async (config: InternalAxiosRequestConfig) => {
    const method = (config.method ?? "get").toUpperCase();
    const url = config.url ?? "";
    const rec: Recorded = {
      method,
      url,
      headers: AxiosHeaders.from(config.headers),
      body: typeof config.data === "string" ? JSON.parse(config.data) : config.data,
      params: Object.fromEntries(Object.entries(config.params ?? {}).map(([k, v]) => [k, String(v)])),
    };
    calls.push(rec);
    const handler = routes[`${method} ${url}`];
    const out = handler ? await handler(rec) : { status: 404, body: { error: { code: "not_found", message: "no route" } } };
    const response: AxiosResponse = {
      data: out.body,
      status: out.status,
      statusText: String(out.status),
      headers: AxiosHeaders.from(out.headers ?? {}),
      config,
    };
    if (out.status >= 400) {
      throw new AxiosError(`status ${out.status}`, AxiosError.ERR_BAD_REQUEST, config, null, response);
    }
    return response;
  };
  const previous = api.defaults.adapter;
  api.defaults.adapter = adapter;
  return { calls, restore: () => { api.defaults.adapter = previous; } };
}

export const adminUser: User = {
  id: 1,
  email: "admin@example.test",
  active: true,
  roles: ["admin"],
  scopes: ["users:read", "users:write", "users:admin", "roles:read", "roles:admin", "apikeys:read", "apikeys:write", "audit:read", "rules:read", "rules:write", "stats:read"],
  tf_enabled: false,
  created_at: "2026-01-01T00:00:00+00:00",
  last_login_at: null,
  login_count: 1,
};

export const viewerUser: User = {
  id: 2,
  email: "viewer@example.test",
  active: true,
  roles: ["viewer"],
  scopes: ["roles:read", "rules:read", "stats:read"],
  tf_enabled: false,
  created_at: "2026-01-01T00:00:00+00:00",
  last_login_at: null,
  login_count: 1,
};

export function tokenBody(access: string, user = adminUser, refresh: string | null = null) {
  return { data: { access_token: access, refresh_token: refresh, token_type: "Bearer", expires_in: 20, user } };
}
