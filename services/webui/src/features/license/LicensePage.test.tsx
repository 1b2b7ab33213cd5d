import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import LicensePage from "./LicensePage";
import { useAuthStore, type User } from "../../lib/auth-store";
import type { LicenseStatus } from "../../lib/license";
import { adminUser, installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
beforeEach(() => useAuthStore.getState().clear());
afterEach(() => restore());

const licenceAdmin: User = { ...adminUser, scopes: [...adminUser.scopes, "license:read", "license:admin"] };
const licenceReader: User = { ...adminUser, scopes: [...adminUser.scopes, "license:read"] };

const day = 86_400_000;
const iso = (days: number) => new Date(Date.now() + days * day).toISOString();

const current: LicenseStatus = {
  mode: "production", status: "valid", id: "lic-2026-001", customer: "Acme Networks", tier: "professional",
  features: ["sso_oidc", "audit_export"], features_active: ["sso_oidc", "audit_export"],
  seats: { used: 4, limit: 25 }, issued_at: iso(-100), not_before: iso(-100), expires_at: iso(200),
  grace_ends_at: iso(214), days_left: 200, warnings: [], source: "database",
};
const renewed: LicenseStatus = {
  ...current, id: "lic-2027-002", customer: "Acme Networks GmbH", tier: "enterprise",
  features: ["sso_oidc", "audit_export", "multi_tenancy"], features_active: ["sso_oidc", "audit_export", "multi_tenancy"],
  expires_at: iso(565), days_left: 565,
};

function backend(state: LicenseStatus = current) {
  let installed = state;
  const fake = installFakeBackend({
    "GET /license": () => ({ status: 200, body: { data: installed } }),
    "PUT /license": (req) => {
      const text = (req.body as { license: string }).license;
      if (text !== "rookery1.good.sig") {
        return { status: 400, body: { error: { code: "license_invalid", message: "licence signature does not verify (signed with another key?)" } } };
      }
      installed = renewed;
      return { status: 200, body: { data: renewed } };
    },
  });
  restore = fake.restore;
  return fake;
}

function open(user: User) {
  useAuthStore.getState().setSession({ accessToken: "t", user });
  renderAt("/license", [{ path: "/license", element: <LicensePage /> }]);
}

const row = (term: string) => screen.getByText(term, { selector: "dt" }).nextElementSibling as HTMLElement;

describe("LicensePage", () => {
  it("shows the licence: status, customer, tier, seats, dates, and each feature active or not", async () => {
    backend();
    open(licenceAdmin);
    expect(await screen.findByRole("heading", { level: 1, name: "Licence" })).toBeInTheDocument();
    await screen.findByText("Acme Networks");
    expect(row("Mode")).toHaveTextContent("Production");
    expect(row("Status")).toHaveTextContent("Valid");
    expect(row("Tier")).toHaveTextContent("Professional");
    expect(row("Licence ID")).toHaveTextContent("lic-2026-001");
    expect(row("Seats used")).toHaveTextContent("4 of 25");
    expect(row("Days left")).toHaveTextContent("200");
    expect(row("Installed from")).toHaveTextContent("database");
    expect(row("Expires")).toHaveTextContent(new Date(current.expires_at as string).toLocaleString());
    const table = screen.getByRole("table");
    const sso = within(table).getByRole("row", { name: /Single sign-on/ });
    expect(sso).toHaveTextContent("Active");
    const tenancy = within(table).getByRole("row", { name: /Multi-tenancy/ });
    expect(tenancy).toHaveTextContent(/No.*Inactive/);
    // Far from expiry: no warning.
    expect(screen.queryByRole("heading", { name: "Warnings" })).not.toBeInTheDocument();
  });

  it("lists the server's warnings and the expiry warning", async () => {
    backend({ ...current, days_left: 9, expires_at: iso(9), grace_ends_at: iso(23), seats: { used: 25, limit: 25 }, warnings: ["every seat is in use (25 of 25)"] });
    open(licenceAdmin);
    expect(await screen.findByText("every seat is in use (25 of 25)")).toBeInTheDocument();
    expect(screen.getByText(/expires in 9 days/)).toBeInTheDocument();
  });

  it("says so in development mode and when no licence is installed", async () => {
    backend({ ...current, mode: "development", status: "development" });
    open(licenceAdmin);
    expect(await screen.findByText(/development mode: every feature is on/)).toBeInTheDocument();
    restore();
    backend({ ...current, status: "unlicensed", id: null, customer: null, tier: null, features: [], features_active: [] });
    open(licenceAdmin);
    expect(await screen.findByText(/No licence is installed/)).toBeInTheDocument();
  });

  it("installs a licence and shows the new state", async () => {
    const fake = backend();
    open(licenceAdmin);
    await screen.findByText("Acme Networks");
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Licence text"), "  rookery1.good.sig\n");
    await user.click(screen.getByRole("button", { name: "Install licence" }));
    expect(await screen.findByText(/^Licence installed for Acme Networks GmbH \(Enterprise\), valid until/)).toBeInTheDocument();
    expect(fake.calls.find((c) => c.method === "PUT")?.body).toEqual({ license: "rookery1.good.sig" });
    await waitFor(() => expect(row("Customer")).toHaveTextContent("Acme Networks GmbH"));
    expect(row("Tier")).toHaveTextContent("Enterprise");
    expect(within(screen.getByRole("table")).getByRole("row", { name: /Multi-tenancy/ })).toHaveTextContent("Active");
    expect(screen.getByLabelText("Licence text")).toHaveValue("");
  });

  it("shows the server's reason when it refuses the licence, and keeps the text", async () => {
    backend();
    open(licenceAdmin);
    await screen.findByText("Acme Networks");
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Licence text"), "rookery1.forged.sig");
    await user.click(screen.getByRole("button", { name: "Install licence" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("licence signature does not verify (signed with another key?)");
    expect(screen.getByLabelText("Licence text")).toHaveValue("rookery1.forged.sig");
    expect(row("Customer")).toHaveTextContent("Acme Networks");
  });

  it("asks for the text before sending anything", async () => {
    const fake = backend();
    open(licenceAdmin);
    await screen.findByText("Acme Networks");
    await userEvent.setup().click(screen.getByRole("button", { name: "Install licence" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Paste the licence text first.");
    expect(fake.calls.some((c) => c.method === "PUT")).toBe(false);
  });

  it("has no install form without license:admin", async () => {
    backend();
    open(licenceReader);
    await screen.findByText("Acme Networks");
    expect(screen.queryByLabelText("Licence text")).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Install licence" })).not.toBeInTheDocument();
  });
});
