import { api, type Envelope, type TokenResponse } from "../../lib/api-client";
import type { components } from "../../lib/api-schema.gen";

type LoginBody = components["schemas"]["LoginIn"];
type ResetBody = components["schemas"]["ResetIn"];
/** What a reset did besides setting the password: how many keys and sessions it ended. */
export type ResetResult = components["schemas"]["ResetOut"];

/** The login form's values ("remember me" decides where the refresh token goes). */
export interface LoginInput {
  email: string;
  password: string;
  remember: boolean;
  totp?: string;
}

/**
 * Remembered sessions keep the refresh token in the backend's httpOnly cookie (survives a
 * reload); otherwise the token comes back in the body and lives in memory for this tab only.
 */
export async function login(input: LoginInput): Promise<TokenResponse> {
  const body: LoginBody = {
    email: input.email,
    password: input.password,
    refresh_cookie: input.remember,
  };
  if (input.totp) body.totp = input.totp;
  const res = await api.post<Envelope<TokenResponse>>("/auth/login", body);
  return res.data.data;
}

/**
 * Asks for a reset link. The answer's mail_delivery (smtp, logged, disabled) is for
 * operators and API callers: the page tells every visitor the same thing.
 */
export async function requestPasswordReset(email: string): Promise<void> {
  await api.post("/auth/forgot", { email } satisfies components["schemas"]["ForgotIn"]);
}

/**
 * A reset ends every session of the account and, unless `revokeApiKeys` is false, revokes
 * its API keys too: whoever could reset the password may also have made keys.
 */
export async function resetPassword(token: string, password: string, revokeApiKeys = true): Promise<ResetResult> {
  const body: ResetBody = { token, password, revoke_api_keys: revokeApiKeys };
  const res = await api.post<Envelope<ResetResult>>("/auth/reset", body);
  return res.data.data;
}

/** GET /auth/sso: whether single sign-on is offered, under which name, and whether it is the only way in. */
export type SsoConfig = components["schemas"]["SsoInfoOut"];

const SSO_OFF: SsoConfig = { enabled: false, provider_name: "", login_url: "", required: false };

/** A backend without the route (or one that cannot answer) offers no single sign-on: the password form stays. */
export async function getSsoConfig(): Promise<SsoConfig> {
  try {
    const res = await api.get<Envelope<SsoConfig>>("/auth/sso");
    return res.data.data ?? SSO_OFF;
  } catch {
    return SSO_OFF;
  }
}

/**
 * The provider's sign-in starts with a full page load of the backend's login route (never
 * fetch: it answers with a redirect to the provider); `next` is where the callback sends the
 * browser back, signed in. Only a path of this site is passed on.
 */
export function ssoLoginHref(loginUrl: string, next: string): string {
  const safe = next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login") ? next : "/";
  return `${loginUrl}${loginUrl.includes("?") ? "&" : "?"}next=${encodeURIComponent(safe)}`;
}
