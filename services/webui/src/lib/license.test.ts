import { describe, expect, it } from "vitest";
import { daysUntil, licenseWarning, type LicenseStatus } from "./license";

const now = new Date("2026-12-01T09:00:00Z");
const at = (days: number) => new Date(now.getTime() + days * 86_400_000).toISOString();

function licence(over: Partial<LicenseStatus> = {}): LicenseStatus {
  return {
    mode: "production", status: "valid", id: "lic-1", customer: "Acme", tier: "professional",
    features: ["sso_oidc", "audit_export"], features_active: ["sso_oidc", "audit_export"],
    seats: { used: 3, limit: 10 }, issued_at: at(-300), not_before: at(-300), expires_at: at(60),
    grace_ends_at: at(74), days_left: 60, warnings: [], source: "LICENSE_KEY", ...over,
  };
}

describe("licenseWarning (the banner's words)", () => {
  it("says nothing while more than 30 days are left, in development mode, or without data", () => {
    expect(licenseWarning(licence(), now)).toBeNull();
    expect(licenseWarning(licence({ days_left: 31 }), now)).toBeNull();
    expect(licenseWarning(licence({ status: "development", days_left: 1 }), now)).toBeNull();
    expect(licenseWarning(undefined, now)).toBeNull();
  });

  it("names what stops and when, 30 days or less before expiry", () => {
    // The API lists features alphabetically; the banner names them in catalogue order.
    const w = licenseWarning(licence({ days_left: 12, expires_at: at(12), grace_ends_at: at(26), features: ["audit_export", "sso_oidc"] }), now)!;
    expect(w.tone).toBe("warning");
    const expires = new Date(at(12)).toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" });
    const graceEnds = new Date(at(26)).toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" });
    expect(w.text).toBe(
      `The Rookery licence expires in 12 days, on ${expires}. Single sign-on (OpenID Connect) and Audit log export keep working for a grace period, then stop on ${graceEnds}. Install a renewed licence before then.`,
    );
    expect(licenseWarning(licence({ days_left: 30 }), now)).not.toBeNull();
    expect(licenseWarning(licence({ days_left: 1, features: ["sso_oidc"] }), now)!.text).toMatch(/expires in 1 day,.*Single sign-on \(OpenID Connect\) keeps working for a grace period, then stops on/);
  });

  it("counts the grace period's days and says the features stop at its end", () => {
    const w = licenseWarning(licence({ status: "grace", days_left: 0, expires_at: at(-4), grace_ends_at: at(10) }), now)!;
    expect(w.tone).toBe("error");
    expect(w.text).toMatch(/^The Rookery licence expired on .+\. Single sign-on \(OpenID Connect\) and Audit log export stop working on .+, when the grace period ends \(10 days left\)\. Install a renewed licence\.$/);
  });

  it("says the features are off once expired", () => {
    const w = licenseWarning(licence({ status: "expired", days_left: 0, features_active: [], expires_at: at(-20), grace_ends_at: at(-6) }), now)!;
    expect(w.tone).toBe("error");
    expect(w.text).toMatch(/has expired \(its grace period ended on .+\): Single sign-on \(OpenID Connect\) and Audit log export are off\. Install a renewed licence to turn them back on\./);
    expect(licenseWarning(licence({ status: "expired", features: [], features_active: [], grace_ends_at: null }), now)!.text).toMatch(/: the licensed features are off/);
  });

  it("counts whole days up to a moment, never below zero", () => {
    expect(daysUntil(new Date(at(1.2)), now)).toBe(2);
    expect(daysUntil(new Date(at(-3)), now)).toBe(0);
  });
});
