import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Layout } from "./Layout";
import { Tabs } from "./Tabs";
import { useAuthStore } from "../lib/auth-store";
import { useUiStore } from "../lib/ui-store";
import { adminUser, installFakeBackend, viewerUser } from "../test/fake-backend";
import { renderAt } from "../test/render";

let restore = () => {};
afterEach(() => restore());

const status = (state: "in_sync" | "pending", lastError: string | null = null) => () => ({
  status: 200,
  body: { data: { desired_version: 5, state, targets: [{ target: "10.0.0.9:50052", applied_version: state === "in_sync" ? 5 : 4, last_publish_at: null, last_error: lastError, breaker_state: lastError ? "open" : "closed" }] } },
});

describe("Layout", () => {
  beforeEach(() => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    useUiStore.getState().setMobileNav(false);
  });

  it("marks the active page in gold, in every category", async () => {
    restore = installFakeBackend({ "GET /rules/status": status("in_sync") }).restore;
    renderAt("/rules", [{ path: "/rules", element: <Layout /> }]);
    expect(screen.getByRole("link", { name: "Rules" })).toHaveClass("bg-amber-400");
    expect(screen.getByRole("link", { name: "Rules" }).className).not.toMatch(/sky/);
  });

  it("selects tabs in gold", () => {
    renderAt("/", [{ path: "/", element: <Tabs label="t" active="a" onChange={() => {}} tabs={[{ id: "a", label: "A", content: null }, { id: "b", label: "B", content: null }]} /> }]);
    expect(screen.getByRole("tab", { name: "A" })).toHaveClass("border-amber-400");
  });

  it("closes the phone menu on Esc and on a tap on the backdrop", async () => {
    restore = installFakeBackend({ "GET /rules/status": status("in_sync") }).restore;
    renderAt("/rules", [{ path: "/rules", element: <Layout /> }]);
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "Open menu" }));
    expect(useUiStore.getState().mobileNavOpen).toBe(true);
    expect(screen.getByRole("button", { name: "Open menu" })).toHaveAttribute("aria-expanded", "true");
    await user.keyboard("{Escape}");
    expect(useUiStore.getState().mobileNavOpen).toBe(false);
    expect(screen.getByRole("button", { name: "Open menu" })).toHaveFocus();
    await user.click(screen.getByRole("button", { name: "Open menu" }));
    await user.click(screen.getByTestId("menu-backdrop"));
    expect(useUiStore.getState().mobileNavOpen).toBe(false);
    expect(screen.queryByTestId("menu-backdrop")).not.toBeInTheDocument();
  });

  it("shows a banner on every page while a packet service has not taken the rule set", async () => {
    restore = installFakeBackend({ "GET /rules/status": status("pending", "connection refused") }).restore;
    renderAt("/users", [{ path: "/users", element: <Layout /> }]);
    const banner = await screen.findByTestId("deployment-banner");
    expect(banner).toHaveTextContent("Rule set version 5 is not deployed on 1 of 1 packet service: 10.0.0.9:50052 — connection refused.");
  });

  it("shows no banner when everything is in sync", async () => {
    const fake = installFakeBackend({ "GET /rules/status": status("in_sync") });
    restore = fake.restore;
    renderAt("/users", [{ path: "/users", element: <Layout /> }]);
    await waitFor(() => expect(fake.calls.some((c) => c.url === "/rules/status")).toBe(true));
    expect(screen.queryByTestId("deployment-banner")).not.toBeInTheDocument();
  });
});

describe("Layout: the licence", () => {
  const licenceAdmin = { ...adminUser, scopes: [...adminUser.scopes, "license:read", "license:admin"] };
  const iso = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
  const licence = (over: Record<string, unknown>) => () => ({
    status: 200,
    body: {
      data: {
        mode: "production", status: "valid", id: "lic-1", customer: "Acme", tier: "professional",
        features: ["sso_oidc", "audit_export"], features_active: ["sso_oidc", "audit_export"], seats: { used: 2, limit: 10 },
        issued_at: iso(-300), not_before: iso(-300), expires_at: iso(200), grace_ends_at: iso(214), days_left: 200, warnings: [],
        ...over,
      },
    },
  });
  beforeEach(() => useUiStore.getState().setMobileNav(false));

  it("has a Licence entry for those who may read it, and only for them", async () => {
    restore = installFakeBackend({ "GET /rules/status": status("in_sync"), "GET /license": licence({}) }).restore;
    useAuthStore.getState().setSession({ accessToken: "t", user: licenceAdmin });
    const { unmount } = renderAt("/users", [{ path: "/users", element: <Layout /> }]);
    expect(screen.getByRole("link", { name: "Licence" })).toHaveAttribute("href", "/license");
    unmount();
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    renderAt("/users", [{ path: "/users", element: <Layout /> }]);
    expect(screen.queryByRole("link", { name: "Licence" })).not.toBeInTheDocument();
  });

  it("warns on every page 30 days or less before expiry: what stops, and when", async () => {
    restore = installFakeBackend({
      "GET /rules/status": status("in_sync"),
      "GET /license": licence({ days_left: 12, expires_at: iso(12), grace_ends_at: iso(26) }),
    }).restore;
    useAuthStore.getState().setSession({ accessToken: "t", user: licenceAdmin });
    renderAt("/rules", [{ path: "/rules", element: <Layout /> }]);
    const banner = await screen.findByTestId("license-banner");
    expect(banner).toHaveTextContent(/The Rookery licence expires in 12 days, on .+\. Single sign-on \(OpenID Connect\) and Audit log export keep working for a grace period, then stop on .+\./);
    expect(banner).toHaveAttribute("role", "status");
    expect(screen.getByRole("link", { name: "Licence details" })).toHaveAttribute("href", "/license");
  });

  it("warns in the grace period and once expired", async () => {
    restore = installFakeBackend({
      "GET /rules/status": status("in_sync"),
      "GET /license": licence({ status: "expired", days_left: 0, features_active: [], expires_at: iso(-30), grace_ends_at: iso(-16) }),
    }).restore;
    useAuthStore.getState().setSession({ accessToken: "t", user: licenceAdmin });
    renderAt("/rules", [{ path: "/rules", element: <Layout /> }]);
    expect(await screen.findByTestId("license-banner")).toHaveTextContent(/has expired .*: Single sign-on \(OpenID Connect\) and Audit log export are off/);
  });

  it("shows no banner far from expiry, and never asks without license:read", async () => {
    const fake = installFakeBackend({ "GET /rules/status": status("in_sync"), "GET /license": licence({}) });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "t", user: licenceAdmin });
    const { unmount } = renderAt("/rules", [{ path: "/rules", element: <Layout /> }]);
    await waitFor(() => expect(fake.calls.some((c) => c.url === "/license")).toBe(true));
    expect(screen.queryByTestId("license-banner")).not.toBeInTheDocument();
    unmount();
    fake.calls.length = 0;
    useAuthStore.getState().setSession({ accessToken: "t", user: viewerUser });
    renderAt("/rules", [{ path: "/rules", element: <Layout /> }]);
    await waitFor(() => expect(fake.calls.some((c) => c.url === "/rules/status")).toBe(true));
    expect(fake.calls.some((c) => c.url === "/license")).toBe(false);
    expect(screen.queryByTestId("license-banner")).not.toBeInTheDocument();
  });
});

describe("Layout: access through teams and grants", () => {
  it("shows Rules, Dashboard and Teams to a member without global scopes, and no admin section", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...viewerUser, scopes: [] } });
    restore = installFakeBackend({
      "GET /rulesets": () => ({ status: 200, body: { data: [{ id: 2, name: "blue-set", team_id: 4 }] } }),
      "GET /teams": () => ({ status: 200, body: { data: [{ id: 4, name: "blue", my_role: "team-maintainer" }] } }),
      "GET /sensors": () => ({ status: 403, body: { error: { code: "insufficient_scope", message: "no" } } }),
    }).restore;
    renderAt("/profile", [{ path: "/profile", element: <Layout /> }]);
    expect(await screen.findByRole("link", { name: "Rules" })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Dashboard" })).toBeInTheDocument();
    expect(await screen.findByRole("link", { name: "Teams" })).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByRole("link", { name: "Sensors" })).not.toBeInTheDocument());
    expect(screen.queryByRole("link", { name: "Users" })).not.toBeInTheDocument();
  }, 15_000);
});
