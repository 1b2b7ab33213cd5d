import { useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { api, refreshSession } from "../../lib/api-client";
import { useAuthStore } from "../../lib/auth-store";

/** Ask once on load whether the refresh cookie still holds a session. */
export function restoreSession(): Promise<boolean> {
  return refreshSession();
}

/** Revoke the refresh family on the server, then forget everything held in memory. */
export function useLogout() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  return async () => {
    try {
      await api.post("/auth/logout", {});
    } catch {
      // Already expired or the server is gone: the local session ends regardless.
    }
    useAuthStore.getState().clear();
    qc.clear();
    navigate("/login", { replace: true });
  };
}
