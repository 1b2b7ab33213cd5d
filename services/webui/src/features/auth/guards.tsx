import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { Loading } from "../../components/Loading";
import { Forbidden } from "../../components/Forbidden";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { useSectionAccess, type ResourcePage } from "../../lib/tenancy";

/** What the login page is told: where to go back to, and whether a session just ran out. */
export interface LoginState {
  from?: string;
  sessionEnded?: boolean;
}

/** Children only for a signed-in user; everyone else goes to /login and comes back after. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const status = useAuthStore((s) => s.status);
  const endReason = useAuthStore((s) => s.endReason);
  const location = useLocation();
  if (status === "unknown") return <Loading label="Checking your session…" />;
  if (status === "anonymous") {
    // A session that ran out (its refresh was refused) is named on the login page.
    const state: LoginState = { from: location.pathname + location.search, ...(endReason === "expired" ? { sessionEnded: true } : {}) };
    return <Navigate to="/login" replace state={state} />;
  }
  return <>{children}</>;
}

/** Children only when the user holds `scope`; otherwise a clear 403 page. */
export function RequireScope({ scope, children }: { scope: string; children: ReactNode }) {
  const user = useAuthStore((s) => s.user);
  if (!hasScope(user, scope)) return <Forbidden scope={scope} />;
  return <>{children}</>;
}

/**
 * Children when the user may open a section whose access can also come from a team role or
 * a grant (rules, dashboard, teams, sensors): the global scope, or something the API lists
 * for them there; otherwise the 403 page naming the global scope.
 */
export function RequireSection({ page, scope, children }: { page: ResourcePage; scope: string; children: ReactNode }) {
  const access = useSectionAccess(page);
  if (access === "checking") return <Loading label="Checking your access…" />;
  if (access === "no") return <Forbidden scope={scope} />;
  return <>{children}</>;
}
