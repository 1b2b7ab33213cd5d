import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Layout } from "./Layout";
import { Tabs } from "./Tabs";
import { useAuthStore } from "../lib/auth-store";
import { useUiStore } from "../lib/ui-store";
import { adminUser, installFakeBackend } from "../test/fake-backend";
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
