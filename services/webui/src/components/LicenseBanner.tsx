import { Link } from "react-router";
import { AlertTriangle } from "lucide-react";
import { hasScope, useAuthStore } from "../lib/auth-store";
import { licenseWarning, useLicenseStatus } from "../lib/license";
import { PAGE_SCOPES } from "../lib/permissions";

/**
 * Shown on every page to those who may read the licence while it is about to end (30 days or
 * less), in its grace period, or expired: what stops, and when, before it happens.
 */
export function LicenseBanner() {
  const user = useAuthStore((s) => s.user);
  const canRead = hasScope(user, PAGE_SCOPES.license);
  const status = useLicenseStatus({ enabled: canRead });
  const warning = canRead ? licenseWarning(status.data) : null;
  if (!warning) return null;
  const colours = warning.tone === "error" ? "border-red-400 bg-red-950 text-red-50" : "border-yellow-400 bg-yellow-950 text-yellow-50";
  return (
    <div role="status" data-testid="license-banner" className={`border-b px-4 py-2 text-sm ${colours}`}>
      <AlertTriangle aria-hidden className="mr-2 inline h-4 w-4 align-text-bottom" />
      {warning.text}{" "}
      <Link to="/license" className="font-medium text-inherit underline">Licence details</Link>
    </div>
  );
}
