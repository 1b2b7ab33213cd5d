import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import { useQuery } from "@tanstack/react-query";
import { RequireAuth } from "./guards";
import { LoginPage } from "./LoginPage";
import { getData, refreshSession, signOut } from "../../lib/api-client";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
beforeEach(() => useAuthStore.getState().clear());
afterEach(() => restore());

/** A protected page that asks the API for something, as every page does. */
function UsersStub() {
  const q = useQuery({ queryKey: ["stub"], queryFn: () => getData("/users"), retry: false });
  return <p>{q.isSuccess ? "users list" : "loading users"}</p>;
}
const routes = [
  { path: "/login", element: <LoginPage /> },
  { path: "/users", element: <RequireAuth><UsersStub /></RequireAuth> },
];
const expired = { status: 401, body: { error: { code: "token_expired", message: "the access token has expired" } } };
const refused = { status: 401, body: { error: { code: "invalid_refresh", message: "no valid refresh token" } } };

describe("when the session ends", () => {
  it("the login page says why when the refresh is refused", async () => {
    restore = installFakeBackend({ "GET /users": () => expired, "POST /auth/refresh": () => refused }).restore;
    useAuthStore.getState().setSession({ accessToken: "old", user: adminUser });
    renderAt("/users", routes);
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("Your session ended; sign in again.");
    expect(useAuthStore.getState().endReason).toBe("expired");
  });

  it("says nothing on a first visit (no session to end) or after a logout", async () => {
    restore = installFakeBackend({ "POST /auth/refresh": () => refused, "POST /auth/logout": () => ({ status: 200, body: {} }) }).restore;
    useAuthStore.setState({ status: "unknown" });
    await refreshSession(); // the silent check on load finds no session
    expect(useAuthStore.getState().endReason).toBeNull();
    renderAt("/users", routes);
    await screen.findByRole("button", { name: "Sign in" });
    expect(screen.queryByText(/Your session ended/)).not.toBeInTheDocument();

    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    await signOut();
    expect(useAuthStore.getState().endReason).toBeNull();
  });

  it("a new sign-in forgets the reason", async () => {
    restore = installFakeBackend({ "GET /users": () => expired, "POST /auth/refresh": () => refused }).restore;
    useAuthStore.getState().setSession({ accessToken: "old", user: adminUser });
    renderAt("/users", routes);
    await screen.findByText(/Your session ended/);
    useAuthStore.getState().setSession({ accessToken: "new", user: adminUser });
    await waitFor(() => expect(useAuthStore.getState().endReason).toBeNull());
  });
});
