import { useQuery } from "@tanstack/react-query";
import { getData } from "./api-client";
import type { components } from "./api-schema.gen";

/** GET /rules/status: the rule set flask-backend wants against what each packet service runs. */
export type RuleStatus = components["schemas"]["RuleStatusOut"];
export type TargetStatus = components["schemas"]["TargetStatusOut"];

/** Shared by the Rules page and the Layout's banner: one request, one cache entry. */
export const DEPLOYMENT_QUERY_KEY = ["rules", "status"] as const;
/** While a deployment is under way the status is asked for often; at rest, rarely. */
export const POLL_PENDING_MS = 1500;
export const POLL_IDLE_MS = 15_000;

export function useDeploymentStatus({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: DEPLOYMENT_QUERY_KEY,
    queryFn: () => getData<RuleStatus>("/rules/status"),
    enabled,
    refetchInterval: (q) => (q.state.data?.state === "pending" ? POLL_PENDING_MS : POLL_IDLE_MS),
  });
}

/** A target that has not taken the wanted version and says why (or whose breaker is open). */
export function isFailing(t: TargetStatus, desired: number): boolean {
  return t.applied_version !== desired && (!!t.last_error || t.breaker_state === "open");
}

export function deploymentProblem(s: RuleStatus | undefined): { failing: TargetStatus[]; pending: TargetStatus[] } {
  if (!s) return { failing: [], pending: [] };
  const behind = s.targets.filter((t) => t.applied_version !== s.desired_version);
  return {
    failing: behind.filter((t) => isFailing(t, s.desired_version)),
    pending: behind.filter((t) => !isFailing(t, s.desired_version)),
  };
}
