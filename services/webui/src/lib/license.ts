import { useQuery } from "@tanstack/react-query";
import { getData } from "./api-client";
import type { components } from "./api-schema.gen";

/** GET /license: mode, state, the licence's claims, features, seats, dates and warnings. */
export type LicenseStatus = components["schemas"]["LicenseOut"];
/** Where the licence stands: "development" means every feature is on, the licence ignored. */
export type LicenseState = LicenseStatus["status"];

/** Shared by the Licence page and the Layout's banner: one request, one cache entry. */
export const LICENSE_QUERY_KEY = ["license"] as const;

/** A licence changes rarely (an install here refreshes the entry at once). */
const LICENSE_STALE_MS = 5 * 60_000;
const LICENSE_POLL_MS = 30 * 60_000;

export function useLicenseStatus({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: LICENSE_QUERY_KEY,
    queryFn: () => getData<LicenseStatus>("/license"),
    enabled,
    staleTime: LICENSE_STALE_MS,
    refetchInterval: LICENSE_POLL_MS,
  });
}

/** The licensed features as people name them; an unknown one is shown as the API names it. */
export const FEATURE_LABELS: Record<string, string> = {
  sso_oidc: "Single sign-on (OpenID Connect)",
  multi_tenancy: "Multi-tenancy",
  audit_export: "Audit log export",
};

/** The catalogue in a stable order (the backend's FEATURES). */
export const KNOWN_FEATURES = Object.keys(FEATURE_LABELS);

export function featureLabel(feature: string): string {
  return FEATURE_LABELS[feature] ?? feature;
}

/** How many days before expiry the banner starts warning. */
export const WARN_DAYS = 30;

/** A timestamp of the API (ISO text or Unix seconds) as a Date; null for nothing. */
export function toDate(value: string | number | null | undefined): Date | null {
  if (value === null || value === undefined || value === "") return null;
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Whole days from `now` until `when` (rounded up: "ends in 1 day" until it has ended). */
export function daysUntil(when: Date, now: Date = new Date()): number {
  return Math.max(0, Math.ceil((when.getTime() - now.getTime()) / 86_400_000));
}

const day = (d: Date) => d.toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" });
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const cap = (t: string) => t[0].toUpperCase() + t.slice(1);

/** Catalogue order first (whatever order the API lists them in), unknown ones after. */
function byCatalogue(names: string[]): string[] {
  const rank = (f: string) => (KNOWN_FEATURES.includes(f) ? KNOWN_FEATURES.indexOf(f) : KNOWN_FEATURES.length);
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function featureList(names: string[]): string {
  const labels = byCatalogue(names).map(featureLabel);
  if (labels.length <= 1) return labels[0] ?? "";
  return `${labels.slice(0, -1).join(", ")} and ${labels.at(-1)}`;
}

/**
 * What the banner says, or null when there is nothing to say: a licence in its grace period or
 * expired, or one that ends within WARN_DAYS. It says what stops (the licensed features, by
 * name) and when.
 */
export function licenseWarning(s: LicenseStatus | undefined, now: Date = new Date()): { tone: "warning" | "error"; text: string } | null {
  if (!s || s.status === "development") return null;
  const expires = toDate(s.expires_at);
  const graceEnds = toDate(s.grace_ends_at);
  const licensed = s.features.length ? s.features : s.features_active;
  const what = licensed.length ? featureList(licensed) : "the licensed features";
  // "the licensed features" and a list of two or more are plural.
  const many = licensed.length !== 1;
  const verb = many ? "stop" : "stops";
  if (s.status === "expired") {
    const when = graceEnds ?? expires;
    return {
      tone: "error",
      text: `The Rookery licence${s.customer ? ` for ${s.customer}` : ""} has expired${when ? ` (its grace period ended on ${day(when)})` : ""}: ${what} ${many ? "are" : "is"} off. Install a renewed licence to turn ${many ? "them" : "it"} back on.`,
    };
  }
  if (s.status === "grace") {
    const left = graceEnds ? daysUntil(graceEnds, now) : null;
    return {
      tone: "error",
      text: `The Rookery licence expired${expires ? ` on ${day(expires)}` : ""}. ${cap(what)} ${verb} working${graceEnds ? ` on ${day(graceEnds)}, when the grace period ends (${plural(left ?? 0, "day")} left)` : " when the grace period ends"}. Install a renewed licence.`,
    };
  }
  if (s.status === "valid" && s.days_left !== null && s.days_left <= WARN_DAYS) {
    const stops = graceEnds
      ? `${cap(what)} keep${many ? "" : "s"} working for a grace period, then ${verb} on ${day(graceEnds)}`
      : `${cap(what)} ${verb} then`;
    return {
      tone: "warning",
      text: `The Rookery licence expires in ${plural(s.days_left, "day")}${expires ? `, on ${day(expires)}` : ""}. ${stops}. Install a renewed licence before then.`,
    };
  }
  return null;
}
