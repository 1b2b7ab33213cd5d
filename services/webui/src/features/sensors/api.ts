import { useMutation, useQueries, useQueryClient } from "@tanstack/react-query";
import { getData, send } from "../../lib/api-client";
import type { components } from "../../lib/api-schema.gen";
import { toApiError } from "../../lib/api-error";
import type { RuleStatus, TargetStatus } from "../../lib/deployment";
import { SENSORS_KEY, type Sensor } from "../../lib/tenancy";

export type SensorInput = components["schemas"]["SensorIn"];

/** One status row of a rule set, per sensor (GET /rulesets/{id}/status names each sensor). */
export type SensorTarget = TargetStatus;

/** What the page says about one sensor's copy of its rule set. */
export interface PublishState {
  label: "in sync" | "pending" | "failing" | "unknown";
  applied: number | null;
  desired: number | null;
  error: string | null;
}

export function publishState(sensor: Sensor, status: RuleStatus | undefined): PublishState {
  if (!status) return { label: "unknown", applied: null, desired: null, error: null };
  const targets = status.targets as SensorTarget[];
  const t = targets.find((x) => x.sensor_id === sensor.id) ?? targets.find((x) => x.target === sensor.address);
  if (!t) return { label: "pending", applied: null, desired: status.desired_version, error: null };
  const applied = t.applied_version ?? null;
  if (applied === status.desired_version) return { label: "in sync", applied, desired: status.desired_version, error: null };
  const failing = !!t.last_error || t.breaker_state === "open";
  return { label: failing ? "failing" : "pending", applied, desired: status.desired_version, error: t.last_error ?? (t.breaker_state === "open" ? "paused after repeated failures" : null) };
}

/**
 * The deployment status of each rule set the sensors use, one request per set; a set the
 * caller may not read answers 403 and its sensors' state stays "unknown".
 */
export function useRuleSetStatuses(ids: number[]) {
  const unique = [...new Set(ids)].sort((a, b) => a - b);
  const results = useQueries({
    queries: unique.map((id) => ({
      queryKey: ["rules", "set", id, "status"],
      queryFn: async (): Promise<RuleStatus | null> => {
        try {
          return await getData<RuleStatus>(`/rulesets/${id}/status`);
        } catch (err) {
          if (toApiError(err).status === 403) return null;
          throw err;
        }
      },
      refetchInterval: 5000,
    })),
  });
  const byId = new Map<number, RuleStatus | undefined>();
  unique.forEach((id, i) => byId.set(id, results[i].data ?? undefined));
  return byId;
}

export function useSensorMutations() {
  const qc = useQueryClient();
  const done = () => Promise.all([
    qc.invalidateQueries({ queryKey: SENSORS_KEY }),
    qc.invalidateQueries({ queryKey: ["rules"] }),
  ]);
  return {
    create: useMutation({ mutationFn: (s: SensorInput) => send<Sensor>("post", "/sensors", s), onSuccess: done }),
    update: useMutation({
      mutationFn: ({ id, ...s }: Partial<SensorInput> & { id: number }) => send<Sensor>("patch", `/sensors/${id}`, s),
      onSuccess: done,
    }),
    remove: useMutation({ mutationFn: (id: number) => send<void>("delete", `/sensors/${id}`), onSuccess: done }),
  };
}
