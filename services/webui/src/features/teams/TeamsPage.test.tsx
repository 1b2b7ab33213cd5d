import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import TeamsPage from "./TeamsPage";
import { Toaster } from "../../components/Toast";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, viewerUser } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
afterEach(() => restore());

const admin = { ...adminUser, scopes: [...adminUser.scopes, "teams:read", "teams:admin"] };
const ACCOUNTS = [{ id: 5, email: "ann@example.test" }, { id: 6, email: "bob@example.test" }];

function backend({ myRole = null as string | null } = {}) {
  let teams = [{ id: 1, name: "blue", description: "network A", created_at: null, member_count: 1, my_role: myRole }];
  let members = [{ team_id: 1, user_id: 5, email: "ann@example.test", role: "team-viewer", scopes: ["teams:read"], created_at: null }];
  const fake = installFakeBackend({
    "GET /teams": () => ({ status: 200, body: { data: teams, meta: { total: teams.length } } }),
    "POST /teams": (req) => {
      const body = req.body as { name: string; description: string };
      if (teams.some((t) => t.name === body.name)) return { status: 409, body: { error: { code: "conflict", message: "a team named blue exists" } } };
      const made = { id: 2, member_count: 0, created_at: null, my_role: null, ...body };
      teams = [...teams, made];
      return { status: 201, body: { data: made } };
    },
    "GET /teams/1/members": () => ({ status: 200, body: { data: members } }),
    "GET /team-roles": () => ({ status: 200, body: { data: [{ id: null, name: "team-admin", scopes: [], builtin: true }, { id: 3, name: "auditor", scopes: ["rules:read"], builtin: false }] } }),
    "GET /users": () => ({ status: 200, body: { data: ACCOUNTS } }),
    "POST /teams/1/members": (req) => {
      const { email, user_id, role } = req.body as { email?: string; user_id?: number; role: string };
      // As the API: an address matched case-insensitively, an id as given.
      const found = ACCOUNTS.find((a) => (email !== undefined ? a.email === email.trim().toLowerCase() : a.id === user_id));
      if (!found) return { status: 404, body: { error: { code: "not_found", message: "no account with this e-mail address", details: { fields: { email: "no account with this address" } } } } };
      if (members.some((m) => m.user_id === found.id)) return { status: 409, body: { error: { code: "conflict", message: "already a member" } } };
      const made = { team_id: 1, user_id: found.id, email: found.email, role, scopes: [], created_at: null };
      members = [...members, made];
      return { status: 201, body: { data: made } };
    },
    "PATCH /teams/1/members/5": (req) => {
      members = members.map((m) => (m.user_id === 5 ? { ...m, role: (req.body as { role: string }).role } : m));
      return { status: 200, body: { data: members[0] } };
    },
    "DELETE /teams/1/members/5": () => {
      members = members.filter((m) => m.user_id !== 5);
      return { status: 204 };
    },
  });
  restore = fake.restore;
  return fake;
}

describe("TeamsPage", { timeout: 20_000 }, () => {
  beforeEach(() => useAuthStore.getState().clear());

  it("creates a team and says so plainly when the name is taken", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: admin });
    const fake = backend();
    renderAt("/teams", [{ path: "/teams", element: <><TeamsPage /><Toaster /></> }]);
    const user = userEvent.setup();
    expect(await screen.findByText("network A")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "New team" }));
    let dialog = screen.getByRole("dialog", { name: "New team" });
    await user.type(within(dialog).getByLabelText("Name"), "blue");
    await user.click(within(dialog).getByRole("button", { name: "Create team" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("A team with this name already exists");
    await user.clear(within(dialog).getByLabelText("Name"));
    await user.type(within(dialog).getByLabelText("Name"), "red");
    await user.click(within(dialog).getByRole("button", { name: "Create team" }));
    expect(await screen.findByText("Team “red” created")).toBeInTheDocument();
    expect(fake.calls.filter((c) => c.method === "POST" && c.url === "/teams").at(-1)?.body).toEqual({ name: "red", description: "" });
    dialog = screen.queryByRole("dialog", { name: "New team" }) as HTMLElement;
    expect(dialog).toBeNull();
  });

  it("adds a member by e-mail, changes a role and removes a member", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: admin });
    const fake = backend();
    renderAt("/teams", [{ path: "/teams", element: <><TeamsPage /><Toaster /></> }]);
    const user = userEvent.setup();
    expect(await screen.findByRole("cell", { name: "ann@example.test" })).toBeInTheDocument();
    await user.type(screen.getByLabelText("New member"), "bob@example.test");
    await user.selectOptions(screen.getByLabelText("Team role", { selector: "#member-role" }), "team-maintainer");
    await user.click(screen.getByRole("button", { name: "Add member" }));
    await waitFor(() => expect(fake.calls.find((c) => c.method === "POST" && c.url === "/teams/1/members")?.body).toEqual({ email: "bob@example.test", role: "team-maintainer" }));
    expect(await screen.findByRole("cell", { name: "bob@example.test" })).toBeInTheDocument();
    // The custom team role is offered next to the built-in ones.
    await user.selectOptions(screen.getByLabelText("Team role of ann@example.test"), "auditor");
    await waitFor(() => expect(fake.calls.find((c) => c.method === "PATCH")?.body).toEqual({ role: "auditor" }));
    await user.click(screen.getByRole("button", { name: "Remove ann@example.test from the team" }));
    await user.click(within(screen.getByRole("dialog", { name: "Remove member" })).getByRole("button", { name: "Remove" }));
    await waitFor(() => expect(screen.queryByRole("cell", { name: "ann@example.test" })).not.toBeInTheDocument());
    // Adding someone twice: the 409 in words.
    await user.type(screen.getByLabelText("New member"), "6");
    await user.click(screen.getByRole("button", { name: "Add member" }));
    expect(await screen.findByText(/already a member of the team/)).toBeInTheDocument();
  });

  it("lets a team-admin without users:read add a member by e-mail address", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...viewerUser, id: 7, scopes: [] } });
    const fake = backend({ myRole: "team-admin" });
    renderAt("/teams", [{ path: "/teams", element: <><TeamsPage /><Toaster /></> }]);
    const user = userEvent.setup();
    const field = await screen.findByLabelText("New member");
    expect(screen.getByText("Their e-mail address, as they sign in with it.")).toBeInTheDocument();
    // An id needs users:read: said before anything is sent.
    await user.type(field, "6");
    await user.click(screen.getByRole("button", { name: "Add member" }));
    expect(await screen.findByText(/naming users by id needs users:read/)).toBeInTheDocument();
    expect(fake.calls.some((c) => c.method === "POST")).toBe(false);
    // Nobody with this address: the 404 on the field.
    await user.clear(field);
    await user.type(field, "nobody@example.test");
    await user.click(screen.getByRole("button", { name: "Add member" }));
    expect(await screen.findByText("No account has this e-mail address.")).toBeInTheDocument();
    await user.clear(field);
    await user.type(field, " Bob@EXAMPLE.test ");
    await user.click(screen.getByRole("button", { name: "Add member" }));
    await waitFor(() => expect(fake.calls.filter((c) => c.method === "POST").at(-1)?.body).toEqual({ email: "Bob@EXAMPLE.test", role: "team-viewer" }));
    expect(await screen.findByRole("cell", { name: "bob@example.test" })).toBeInTheDocument();
    expect(await screen.findByText("Added bob@example.test to blue as team-viewer")).toBeInTheDocument();
    expect(fake.calls.some((c) => c.url === "/users")).toBe(false);
  });

  it("is read-only for a team viewer", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...viewerUser, id: 5, scopes: [] } });
    backend();
    renderAt("/teams", [{ path: "/teams", element: <TeamsPage /> }]);
    expect(await screen.findByRole("cell", { name: "ann@example.test" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "New team" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Add member" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^(Edit|Delete) team/ })).not.toBeInTheDocument();
  });

  it("says when the licence does not include teams", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: admin });
    restore = installFakeBackend({
      "GET /teams": () => ({ status: 403, body: { error: { code: "feature_not_licensed", message: "multi_tenancy needs the enterprise tier" } } }),
    }).restore;
    renderAt("/teams", [{ path: "/teams", element: <TeamsPage /> }]);
    expect(await screen.findByRole("alert")).toHaveTextContent(/Not included in this installation's licence: Multi_tenancy needs the enterprise tier/);
  });
});
