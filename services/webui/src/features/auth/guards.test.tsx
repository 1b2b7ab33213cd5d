import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { RequireAuth, RequireScope } from "./guards";
import { Layout } from "../../components/Layout";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, viewerUser } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
beforeEach(() => { useAuthStore.getState().clear(); restore = installFakeBackend({}).restore; });
afterEach(() => restore());

describe("route guards", () => {
  it("sends an anonymous visitor to /login", () => {
    renderAt("/users", [
      { path: "/login", element: <p>login page</p> },
      { path: "/users", element: <RequireAuth><p>secret</p></RequireAuth> },
    ]);
    expect(screen.getByText("login page")).toBeInTheDocument();
    expect(screen.queryByText("secret")).not.toBeInTheDocument();
  });

  it("waits while the session is being restored", () => {
    useAuthStore.setState({ status: "unknown" });
    renderAt("/users", [{ path: "/users", element: <RequireAuth><p>secret</p></RequireAuth> }]);
    expect(screen.getByRole("status")).toHaveTextContent("Checking your session");
  });

  it("shows a 403 page for a deep link the user's scopes do not allow", () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: viewerUser });
    renderAt("/users", [{ path: "/users", element: <RequireAuth><RequireScope scope="users:read"><p>users</p></RequireScope></RequireAuth> }]);
    expect(screen.getByRole("heading", { name: /403/ })).toBeInTheDocument();
    expect(screen.getByText("users:read")).toBeInTheDocument();
    expect(screen.queryByText("users")).not.toBeInTheDocument();
  });

  it("lets a user with the scope through", () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    renderAt("/users", [{ path: "/users", element: <RequireAuth><RequireScope scope="users:read"><p>users list</p></RequireScope></RequireAuth> }]);
    expect(screen.getByText("users list")).toBeInTheDocument();
  });
});

describe("sidebar", () => {
  it("shows a viewer no administration section", () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: viewerUser });
    renderAt("/", [{ path: "/", element: <Layout /> }]);
    const nav = screen.getByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Dashboard" })).toBeInTheDocument();
    expect(within(nav).getByRole("link", { name: "Rules" })).toBeInTheDocument();
    expect(within(nav).queryByText("Administration")).not.toBeInTheDocument();
    expect(within(nav).queryByRole("link", { name: "Users" })).not.toBeInTheDocument();
  });

  it("shows an admin every page and folds a category", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    renderAt("/", [{ path: "/", element: <Layout /> }]);
    const nav = screen.getByRole("navigation", { name: "Main" });
    for (const name of ["Dashboard", "Rules", "API keys", "Users", "Roles", "Audit log"]) {
      expect(within(nav).getByRole("link", { name })).toBeInTheDocument();
    }
    const toggle = within(nav).getByRole("button", { name: "Administration" });
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    await userEvent.setup().click(toggle);
    expect(await within(nav).findByRole("button", { name: "Administration", expanded: false })).toBeInTheDocument();
    expect(within(nav).queryByRole("link", { name: "Users" })).not.toBeInTheDocument();
  });
});
