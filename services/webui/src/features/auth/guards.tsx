import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { Loading } from "../../components/Loading";
import { Forbidden } from "../../components/Forbidden";
import { hasScope, useAuthStore } from "../../lib/auth-store";

/** Children only for a signed-in user; everyone else goes to /login and comes back after. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const status = useAuthStore((s) => s.status);
  const location = useLocation();
  if (status === "unknown") return <Loading label="Checking your session…" />;
  if (status === "anonymous") {
    return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  }
  return <>{children}</>;
}

/** Children only when the user holds `scope`; otherwise a clear 403 page. */
export function RequireScope({ scope, children }: { scope: string; children: ReactNode }) {
  const user = useAuthStore((s) => s.user);
  if (!hasScope(user, scope)) return <Forbidden scope={scope} />;
  return <>{children}</>;
}
