import { useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { refreshSession, signOut } from "../../lib/api-client";

/** Ask once on load whether the refresh cookie still holds a session. */
export function restoreSession(): Promise<boolean> {
  return refreshSession();
}

/** Revoke the refresh family on the server, then forget everything held in memory. */
export function useLogout() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  return async () => {
    await signOut();
    qc.clear();
    navigate("/login", { replace: true });
  };
}
