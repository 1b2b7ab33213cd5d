import { useCallback, useMemo, useState } from "react";
import { useSearchParams } from "react-router";

/**
 * A page's view state (filters, sort, page, page size) kept in the query string, so a
 * reload, a shared link or the Back button shows the same view. Values equal to their
 * default are left out of the URL.
 */
export function useUrlState<T extends Record<string, string>>(initialDefaults: T) {
  // The defaults of the first render: callers pass a fresh object literal every render.
  const [defaults] = useState(initialDefaults);
  const [params, setParams] = useSearchParams();
  const state = useMemo(() => {
    const out = { ...defaults };
    for (const key of Object.keys(defaults) as (keyof T)[]) {
      const value = params.get(key as string);
      if (value !== null) out[key] = value as T[keyof T];
    }
    return out;
  }, [params, defaults]);
  const update = useCallback(
    (patch: Partial<T>, { replace = false }: { replace?: boolean } = {}) => {
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          for (const [key, value] of Object.entries(patch)) {
            if (value === undefined || value === "" || value === defaults[key]) next.delete(key);
            else next.set(key, value);
          }
          return next;
        },
        { replace },
      );
    },
    [setParams, defaults],
  );
  return [state, update] as const;
}

/** A positive whole number from the URL, or the fallback. */
export function intParam(value: string, fallback: number, allowed?: readonly number[]): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) return fallback;
  if (allowed && !allowed.includes(n)) return fallback;
  return n;
}
