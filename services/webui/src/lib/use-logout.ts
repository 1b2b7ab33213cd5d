import { useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { signOut } from "./api-client";

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
