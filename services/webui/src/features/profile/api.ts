import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getData, send, type TokenResponse } from "../../lib/api-client";
import type { components } from "../../lib/api-schema.gen";
import { useAuthStore, type User } from "../../lib/auth-store";

type Schemas = components["schemas"];
type MePatch = Schemas["MePatchIn"];

/**
 * Proof that the account's owner is at the keyboard, asked before account changes: the
 * current password, or (two-factor on) a code from the authenticator instead. The two
 * fields of PATCH /auth/me (and friends) that the backend accepts one of.
 */
export type Reauthentication = { current_password: NonNullable<MePatch["current_password"]> } | { totp: NonNullable<MePatch["totp"]> };
/** An authenticator's secret, as text and as the otpauth:// URI the QR code shows. */
export type TwoFactorSetup = Schemas["TwoFactorSetupOut"];
/** One signed-in session (a refresh-token family) of the caller; `current` is this tab's. */
export type Session = Schemas["SessionOut"];
type SessionsEnded = Schemas["SessionsEndedOut"];

export function fetchMe(): Promise<User> {
  return getData<User>("/auth/me");
}

/** The backend mails the old address about the change. */
export function changeEmail(email: string, proof: Reauthentication): Promise<User> {
  const body: MePatch = { email, ...proof };
  return send<User>("patch", "/auth/me", body);
}

/**
 * A password change rotates the account's token secret: every access token issued before
 * stops working, and the other sessions end. This one goes on with the tokens the answer
 * carries (a remembered session's new refresh token comes as its cookie instead).
 */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  const body: Schemas["PasswordChangeIn"] = { current_password: currentPassword, new_password: newPassword };
  const t = await send<TokenResponse>("post", "/auth/password", body);
  const { refreshToken, setSession } = useAuthStore.getState();
  setSession({ accessToken: t.access_token, refreshToken: refreshToken ? t.refresh_token : null, user: t.user });
}

export function startTwoFactor(password: string): Promise<TwoFactorSetup> {
  return send<TwoFactorSetup>("post", "/auth/2fa/setup", { password } satisfies Schemas["TwoFactorSetupIn"]);
}

/** The first authenticator code turns two-factor on; the answer holds the recovery codes. */
export function confirmTwoFactor(code: string): Promise<Schemas["RecoveryCodesOut"]> {
  return send<Schemas["RecoveryCodesOut"]>("post", "/auth/2fa/confirm", { code } satisfies Schemas["TwoFactorConfirmIn"]);
}

/** `totp` is a current authenticator code or an unused recovery code. */
export function disableTwoFactor(password: string, totp: string): Promise<void> {
  return send<void>("post", "/auth/2fa/disable", { password, totp } satisfies Schemas["TwoFactorDisableIn"]);
}

const sessionsKey = ["auth", "sessions"] as const;

export function useSessions() {
  return useQuery({ queryKey: sessionsKey, queryFn: () => getData<Session[]>("/auth/sessions") });
}

export function useSessionMutations() {
  const qc = useQueryClient();
  const done = () => qc.invalidateQueries({ queryKey: sessionsKey });
  return {
    endOne: useMutation({
      mutationFn: (session: Session) =>
        send<SessionsEnded>("delete", `/auth/sessions/${encodeURIComponent(session.id)}`),
      // Ending this tab's own session ends its access token too: asking again would only
      // bounce off the server, and the caller is about to sign out anyway.
      onSuccess: (_, session) => (session.current ? undefined : done()),
    }),
    endOthers: useMutation({
      mutationFn: () => send<SessionsEnded>("delete", "/auth/sessions"),
      onSuccess: done,
    }),
  };
}
