import { create } from "zustand";
import type { components } from "./api-schema.gen";

/**
 * The user object the backend returns from /auth/login, /auth/refresh, /auth/me and the users
 * API (`service_account` flags the built-in machine accounts).
 */
export type User = components["schemas"]["UserOut"];

/** Where the session stands: "unknown" until the silent refresh on load has answered. */
export type SessionStatus = "unknown" | "authenticated" | "anonymous";

interface AuthState {
  status: SessionStatus;
  user: User | null;
  /** Held in memory only; a reload recovers it through the refresh cookie. */
  accessToken: string | null;
  /**
   * Only set when the user did not ask to be remembered: then the backend is asked for the
   * token in the body instead of a cookie, so it dies with the tab. Never persisted.
   */
  refreshToken: string | null;
  /** Grows on every sign-out, so a refresh answered after it can be recognised and ignored. */
  epoch: number;
  /** "expired" when the last session ended by itself (its refresh was refused), not by a logout. */
  endReason: "expired" | null;
  setSession: (s: { accessToken: string; refreshToken?: string | null; user: User }) => void;
  setUser: (user: User) => void;
  clear: (reason?: "expired") => void;
}

export const useAuthStore = create<AuthState>((set) => ({
  status: "unknown",
  user: null,
  accessToken: null,
  refreshToken: null,
  epoch: 0,
  endReason: null,
  setSession: ({ accessToken, refreshToken, user }) =>
    set((prev) => ({
      status: "authenticated",
      endReason: null,
      accessToken,
      user,
      // A cookie-based refresh answers with refresh_token null; keep what we had otherwise.
      refreshToken: refreshToken === undefined ? prev.refreshToken : refreshToken,
    })),
  setUser: (user) => set({ user }),
  clear: (reason) =>
    set((prev) => ({
      status: "anonymous", user: null, accessToken: null, refreshToken: null, epoch: prev.epoch + 1, endReason: reason ?? null,
    })),
}));

export function hasScope(user: User | null, scope: string): boolean {
  return !!user && user.scopes.includes(scope);
}
