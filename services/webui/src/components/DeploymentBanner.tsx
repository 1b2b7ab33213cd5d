import { Link } from "react-router";
import { AlertTriangle, Loader2 } from "lucide-react";
import { hasScope, useAuthStore } from "../lib/auth-store";
import { deploymentProblem, useDeploymentStatus } from "../lib/deployment";
import { PAGE_SCOPES } from "../lib/permissions";

/**
 * Shown on every page while a packet service has not taken the current rule set: a change
 * made elsewhere (another admin, the API) is not silently half-deployed.
 */
export function DeploymentBanner() {
  const user = useAuthStore((s) => s.user);
  const canRead = hasScope(user, PAGE_SCOPES.rules);
  const status = useDeploymentStatus({ enabled: canRead });
  const s = status.data;
  if (!canRead || !s || s.state === "in_sync") return null;
  const { failing, pending } = deploymentProblem(s);
  const total = s.targets.length;
  if (failing.length) {
    const first = failing[0];
    return (
      <div role="status" data-testid="deployment-banner" className="border-b border-red-400 bg-red-950 px-4 py-2 text-sm text-red-50">
        <AlertTriangle aria-hidden className="mr-2 inline h-4 w-4 align-text-bottom" />
        Rule set version {s.desired_version} is not deployed on {failing.length} of {total} packet service{total === 1 ? "" : "s"}:{" "}
        <code className="break-all">{first.target}</code> — {first.last_error ?? "not reachable"}.{" "}
        <Link to="/rules?tab=status" className="font-medium text-red-50 underline">Deployment status</Link>
      </div>
    );
  }
  return (
    <div role="status" data-testid="deployment-banner" className="border-b border-amber-400 bg-slate-900 px-4 py-2 text-sm text-amber-50">
      <Loader2 aria-hidden className="mr-2 inline h-4 w-4 animate-spin align-text-bottom" />
      Deploying rule set version {s.desired_version}: {pending.length} of {total} packet service{total === 1 ? "" : "s"} still to confirm.{" "}
      <Link to="/rules?tab=status" className="font-medium text-amber-50 underline">Deployment status</Link>
    </div>
  );
}
