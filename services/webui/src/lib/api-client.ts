import axios, { type AxiosError, type AxiosInstance, type InternalAxiosRequestConfig } from "axios";
import { useAuthStore } from "./auth-store";
import { readBlobError, toApiError } from "./api-error";
import type { components } from "./api-schema.gen";

/** Body of a successful login or refresh. */
export type TokenResponse = components["schemas"]["TokenOut"];

/**
 * Every JSON answer of /api/v1 wraps its data: {"data": …, "meta": {…}}. `T` is the data's
 * type from api-schema.gen.ts; meta is free-form except on the stats routes.
 */
export interface Envelope<T> {
  data: T;
  meta?: Record<string, unknown>;
}

/** Endpoints whose 401 means "bad credentials", never "access token expired". */
const NO_REFRESH = ["/auth/login", "/auth/refresh", "/auth/forgot", "/auth/reset"];

/**
 * While signing out, only the logout call itself may refresh (an expired access token must
 * not stop the server from revoking the refresh family); any other 401 just fails.
 */
let signingOut = false;

/** 401 codes that judge what the user typed, not the age of the access token. */
const CREDENTIAL_ERRORS = new Set(["invalid_credentials", "totp_required", "invalid_totp", "totp_reused", "invalid_refresh"]);

type RetriableConfig = InternalAxiosRequestConfig & { _retried?: boolean };

let inflightRefresh: Promise<boolean> | null = null;

/**
 * Trades the refresh token (memory, or the httpOnly cookie) for a new access token.
 * Concurrent callers share one request: the backend rotates refresh tokens, so two
 * parallel refreshes would make the second look like token reuse.
 */
export function refreshSession(client: AxiosInstance = api): Promise<boolean> {
  if (!inflightRefresh) {
    const { refreshToken, epoch } = useAuthStore.getState();
    inflightRefresh = client
      .post<Envelope<TokenResponse>>(
        "/auth/refresh",
        refreshToken ? { refresh_token: refreshToken } : {},
      )
      .then((res) => {
        // Signed out while this was in flight: the answer must not bring the session back.
        if (useAuthStore.getState().epoch !== epoch) return false;
        const t = res.data.data;
        useAuthStore.getState().setSession({
          accessToken: t.access_token,
          refreshToken: refreshToken ? t.refresh_token : null,
          user: t.user,
        });
        return true;
      })
      .catch(() => {
        const state = useAuthStore.getState();
        // A session in use ran out (not the silent check on load): the login page says why.
        if (state.epoch === epoch) state.clear(state.status === "authenticated" ? "expired" : undefined);
        return false;
      })
      .finally(() => {
        inflightRefresh = null;
      });
  }
  return inflightRefresh;
}

export function createApiClient(): AxiosInstance {
  const client = axios.create({
    baseURL: "/api/v1",
    withCredentials: true,
    headers: { Accept: "application/json" },
    timeout: 15000,
  });

  client.interceptors.request.use((config) => {
    const token = useAuthStore.getState().accessToken;
    if (token && !config.headers.has("Authorization")) {
      config.headers.set("Authorization", `Bearer ${token}`);
    }
    return config;
  });

  client.interceptors.response.use(undefined, async (error: AxiosError) => {
    const config = error.config as RetriableConfig | undefined;
    const url = config?.url ?? "";
    const code = (error.response?.data as { error?: { code?: string } } | undefined)?.error?.code ?? "";
    const expired =
      error.response?.status === 401 &&
      !CREDENTIAL_ERRORS.has(code) &&
      (!signingOut || url.endsWith("/auth/logout")) &&
      config &&
      !config._retried &&
      !NO_REFRESH.some((p) => url.endsWith(p));
    if (expired) {
      config._retried = true;
      if (await refreshSession(client)) {
        config.headers.set("Authorization", `Bearer ${useAuthStore.getState().accessToken}`);
        return client.request(config);
      }
    }
    // A download's error answer (responseType blob) is read for its code and message.
    throw await readBlobError(toApiError(error));
  });
  return client;
}

export const api = createApiClient();

/** GET returning the envelope's data. */
export async function getData<T>(url: string, params?: Record<string, unknown>): Promise<T> {
  const res = await api.get<Envelope<T>>(url, { params });
  return res.data.data;
}

/** GET returning data and meta (lists). */
export async function getPage<T>(
  url: string,
  params?: Record<string, unknown>,
): Promise<Envelope<T>> {
  const res = await api.get<Envelope<T>>(url, { params });
  return res.data;
}

export async function send<T>(
  method: "post" | "patch" | "delete",
  url: string,
  body?: unknown,
): Promise<T> {
  const res = await api.request<Envelope<T>>({ method, url, data: body });
  return res.data?.data;
}

/**
 * Ends the session: lets a refresh already under way settle (so the cookie is not rotated
 * behind our back), asks the server to revoke the refresh family and clear the cookie,
 * then forgets everything held in memory.
 */
export async function signOut(client: AxiosInstance = api): Promise<void> {
  signingOut = true;
  try {
    if (inflightRefresh) await inflightRefresh;
    if (useAuthStore.getState().status === "authenticated") {
      try {
        await client.post("/auth/logout", {});
      } catch {
        // Already revoked, or the server is gone: the local session ends regardless.
      }
    }
    useAuthStore.getState().clear();
  } finally {
    signingOut = false;
  }
}
