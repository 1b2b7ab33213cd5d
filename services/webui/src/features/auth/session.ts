import { refreshSession } from "../../lib/api-client";

/** Ask once on load whether the refresh cookie still holds a session. */
export function restoreSession(): Promise<boolean> {
  return refreshSession();
}
