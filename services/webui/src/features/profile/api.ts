import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getData, send } from "../../lib/api-client";
import type { User } from "../../lib/auth-store";

/**
 * Proof that the account's owner is at the keyboard, asked before account changes: the
 * current password, or (two-factor on) a code from the authenticator instead.
 */
export type Reauthentication = { current_password: string } | { totp: string };

export function fetchMe(): Promise<User> {
  return getData<User>("/auth/me");
}

/** The backend mails the old address about the change. */
export function changeEmail(email: string, proof: Reauthentication): Promise<User> {
  return send<User>("patch", "/auth/me", { email, ...proof });
}

export function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  return send<void>("post", "/auth/password", { current_password: currentPassword, new_password: newPassword });
}

export interface TwoFactorSetup {
  secret: string;
  otpauth_uri: string;
}

export function startTwoFactor(password: string): Promise<TwoFactorSetup> {
  return send<TwoFactorSetup>("post", "/auth/2fa/setup", { password });
}

/** The first authenticator code turns two-factor on; the answer holds the recovery codes. */
export function confirmTwoFactor(code: string): Promise<{ recovery_codes: string[] }> {
  return send<{ recovery_codes: string[] }>("post", "/auth/2fa/confirm", { code });
}

/** `totp` is a current authenticator code or an unused recovery code. */
export function disableTwoFactor(password: string, totp: string): Promise<void> {
  return send<void>("post", "/auth/2fa/disable", { password, totp });
}

/** One signed-in session (a refresh-token family) of the caller. */
export interface Session {
  id: string;
  created_at: string | null;
  last_used_at: string | null;
  expires_at: string | null;
  ip: string | null;
  user_agent: string | null;
  /** The session this browser tab is using. */
  current: boolean;
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
        send<{ ended: number }>("delete", `/auth/sessions/${encodeURIComponent(session.id)}`),
      // Ending this tab's own session ends its access token too: asking again would only
      // bounce off the server, and the caller is about to sign out anyway.
      onSuccess: (_, session) => (session.current ? undefined : done()),
    }),
    endOthers: useMutation({
      mutationFn: () => send<{ ended: number }>("delete", "/auth/sessions"),
      onSuccess: done,
    }),
  };
}
