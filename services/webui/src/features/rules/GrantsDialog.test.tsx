import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { GrantsDialog } from "./GrantsDialog";
import { Toaster } from "../../components/Toast";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, viewerUser } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
afterEach(() => restore());

const SET = { id: 2, name: "blue-set", description: "", team_id: null, version: 3, default_action: "drop" as const };
// A rule set's owner through a grant: no global scope at all (neither users:read nor teams:read).
const owner = { ...viewerUser, id: 9, email: "owner@example.test", scopes: [] as string[] };
const ACCOUNTS = [{ id: 5, email: "ann@example.test" }, { id: 6, email: "bob@example.test" }];

function backend() {
  let grants: { id: number; ruleset_id: number; user_id: number | null; team_id: number | null; holder: string; role: string; scopes: string[]; created_at: null; created_by: null }[] = [];
  const fake = installFakeBackend({
    "GET /rulesets/2/grants": () => ({ status: 200, body: { data: grants } }),
    "GET /teams": () => ({ status: 200, body: { data: [] } }),
    "GET /users": () => ({ status: 200, body: { data: ACCOUNTS } }),
    "POST /rulesets/2/grants": (req) => {
      const b = req.body as { email?: string; user_id?: number; role: string };
      // As the API: e-mail matched case-insensitively; ids only with users:read (checked by the caller's token there).
      const found = b.email !== undefined ? ACCOUNTS.find((a) => a.email === b.email!.trim().toLowerCase()) : ACCOUNTS.find((a) => a.id === b.user_id);
      if (!found) return { status: 404, body: { error: { code: "not_found", message: "no account with this e-mail address", details: { fields: { email: "no account with this address" } } } } };
      const made = { id: 20 + grants.length, ruleset_id: 2, user_id: found.id, team_id: null, holder: found.email, role: b.role, scopes: [], created_at: null, created_by: null };
      grants = [...grants, made];
      return { status: 201, body: { data: made } };
    },
  });
  restore = fake.restore;
  return fake;
}

function open() {
  renderAt("/rules", [{ path: "/rules", element: <><GrantsDialog set={SET} onClose={() => {}} /><Toaster /></> }]);
  return screen.getByRole("dialog", { name: "Grants on rule set blue-set" });
}

describe("GrantsDialog", { timeout: 20_000 }, () => {
  beforeEach(() => useAuthStore.getState().clear());

  it("lets an owner without users:read grant by e-mail address", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: owner });
    const fake = backend();
    const dialog = open();
    const user = userEvent.setup();
    const field = await within(dialog).findByLabelText("User's e-mail address");
    expect(within(dialog).getByText("Their e-mail address, as they sign in with it.")).toBeInTheDocument();
    // An id is no way in without users:read: said at once, nothing sent.
    await user.type(field, "6");
    await user.click(within(dialog).getByRole("button", { name: "Add grant" }));
    expect(await within(dialog).findByText(/naming users by id needs users:read/)).toBeInTheDocument();
    expect(fake.calls.some((c) => c.method === "POST")).toBe(false);
    // An address nobody has: the 404 in words, on the field.
    await user.clear(field);
    await user.type(field, "ghost@example.test");
    await user.click(within(dialog).getByRole("button", { name: "Add grant" }));
    expect(await within(dialog).findByText("No account has this e-mail address.")).toBeInTheDocument();
    await user.clear(field);
    await user.type(field, "Bob@Example.test");
    await user.selectOptions(within(dialog).getByLabelText("Role"), "editor");
    await user.click(within(dialog).getByRole("button", { name: "Add grant" }));
    await waitFor(() => expect(fake.calls.filter((c) => c.method === "POST").at(-1)?.body).toEqual({ email: "Bob@Example.test", role: "editor" }));
    expect(await within(dialog).findByRole("cell", { name: "bob@example.test" })).toBeInTheDocument();
    // The user directory is never asked for (it would be a 403).
    expect(fake.calls.some((c) => c.url === "/users")).toBe(false);
  });

  it("suggests addresses to a caller with users:read, and takes an id too", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...adminUser, scopes: [...adminUser.scopes, "rulesets:admin", "teams:read"] } });
    const fake = backend();
    const dialog = open();
    const user = userEvent.setup();
    const field = await within(dialog).findByLabelText("User's e-mail address");
    await waitFor(() => expect(dialog.querySelectorAll("datalist option")).toHaveLength(2));
    await user.type(field, "ann@example.test");
    await user.click(within(dialog).getByRole("button", { name: "Add grant" }));
    await waitFor(() => expect(fake.calls.filter((c) => c.method === "POST").at(-1)?.body).toEqual({ email: "ann@example.test", role: "viewer" }));
    await user.clear(field);
    await user.type(field, "6");
    await user.click(within(dialog).getByRole("button", { name: "Add grant" }));
    await waitFor(() => expect(fake.calls.filter((c) => c.method === "POST").at(-1)?.body).toEqual({ user_id: 6, role: "viewer" }));
  });
});
