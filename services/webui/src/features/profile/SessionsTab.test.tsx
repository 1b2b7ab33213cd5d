import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import ProfilePage from "./ProfilePage";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";
import type { Session } from "./api";

let restore = () => {};
beforeEach(() => useAuthStore.getState().clear());
afterEach(() => restore());

const routes = [
  { path: "/profile", element: <ProfilePage /> },
  { path: "/login", element: <p>login page</p> },
];
const CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const session = (id: string, current: boolean, user_agent: string | null, ip: string): Session => ({
  id, current, user_agent, ip,
  created_at: "2026-11-30T08:00:00Z", last_used_at: "2026-12-01T09:30:00Z", expires_at: "2026-12-30T08:00:00Z",
});

function backend() {
  let sessions = [session("aaa", true, CHROME, "192.0.2.1"), session("bbb", false, FIREFOX, "198.51.100.7"), session("ccc", false, "curl/8.5.0", "203.0.113.9")];
  const fake = installFakeBackend({
    "GET /auth/sessions": () => ({ status: 200, body: { data: sessions } }),
    "DELETE /auth/sessions": () => {
      const ended = sessions.filter((s) => !s.current).length;
      sessions = sessions.filter((s) => s.current);
      return { status: 200, body: { data: { ended } } };
    },
    ...Object.fromEntries(["aaa", "bbb", "ccc"].map((id) => [`DELETE /auth/sessions/${id}`, () => {
      sessions = sessions.filter((s) => s.id !== id);
      return { status: 200, body: { data: { ended: 1 } } };
    }])),
    "POST /auth/logout": () => ({ status: 401, body: { error: { code: "invalid_token", message: "revoked" } } }),
    "POST /auth/refresh": () => ({ status: 401, body: { error: { code: "invalid_refresh", message: "revoked" } } }),
  });
  restore = fake.restore;
  return fake;
}

async function openSessions() {
  useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
  renderAt("/profile", routes);
  const user = userEvent.setup();
  await user.click(screen.getByRole("tab", { name: "Sessions" }));
  await screen.findAllByTestId("session-row");
  return user;
}

describe("Profile: sessions", () => {
  it("lists every session with device, address and times, and marks this one", async () => {
    backend();
    await openSessions();
    const rows = screen.getAllByTestId("session-row");
    expect(rows).toHaveLength(3);
    expect(rows[0]).toHaveTextContent("Chrome on Linux");
    expect(rows[0]).toHaveTextContent("this session");
    expect(rows[0]).toHaveTextContent("192.0.2.1");
    expect(rows[0]).toHaveTextContent(new Date("2026-12-01T09:30:00Z").toLocaleString());
    expect(rows[1]).toHaveTextContent("Firefox on Windows");
    expect(rows[1]).not.toHaveTextContent("this session");
    expect(rows[2]).toHaveTextContent("curl");
    // Each button is described by its row's device, so a screen reader tells them apart.
    expect(within(rows[1]).getByRole("button", { name: "Sign out" })).toHaveAccessibleDescription(/Firefox on Windows/);
  });

  it("signs out one other session", async () => {
    const fake = backend();
    const user = await openSessions();
    await user.click(within(screen.getAllByTestId("session-row")[1]).getByRole("button", { name: "Sign out" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Signed out Firefox on Windows.");
    await waitFor(() => expect(screen.getAllByTestId("session-row")).toHaveLength(2));
    expect(fake.calls.some((c) => c.method === "DELETE" && c.url === "/auth/sessions/bbb")).toBe(true);
    expect(useAuthStore.getState().status).toBe("authenticated");
  });

  it("signs out every other session after a confirmation", async () => {
    const fake = backend();
    const user = await openSessions();
    await user.click(screen.getByRole("button", { name: "Sign out all other sessions" }));
    const dialog = screen.getByRole("dialog", { name: "Sign out all other sessions" });
    expect(dialog).toHaveTextContent("Sign out 2 other sessions?");
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(fake.calls.some((c) => c.method === "DELETE")).toBe(false);
    await user.click(screen.getByRole("button", { name: "Sign out all other sessions" }));
    await user.click(within(screen.getByRole("dialog", { name: "Sign out all other sessions" })).getByRole("button", { name: "Sign out others" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Signed out 2 other sessions.");
    await waitFor(() => expect(screen.getAllByTestId("session-row")).toHaveLength(1));
    expect(screen.getByRole("button", { name: "Sign out all other sessions" })).toBeDisabled();
  });

  it("signing out this session ends the local session and goes to the login page", async () => {
    const fake = backend();
    const user = await openSessions();
    await user.click(within(screen.getAllByTestId("session-row")[0]).getByRole("button", { name: "Sign out" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/login"));
    expect(useAuthStore.getState().status).toBe("anonymous");
    expect(useAuthStore.getState().accessToken).toBeNull();
    expect(fake.calls.some((c) => c.method === "DELETE" && c.url === "/auth/sessions/aaa")).toBe(true);
  });

  it("explains a refusal", async () => {
    restore = installFakeBackend({
      "GET /auth/sessions": () => ({ status: 403, body: { error: { code: "session_required", message: "x" } } }),
    }).restore;
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    renderAt("/profile", routes);
    await userEvent.setup().click(screen.getByRole("tab", { name: "Sessions" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("API keys cannot make it");
  });
});
