import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import RulesPage from "./RulesPage";
import { Toaster } from "../../components/Toast";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, viewerUser } from "../../test/fake-backend";
import { renderAt } from "../../test/render";
import { useLocation } from "react-router";

function Search() {
  return <p data-testid="search">{useLocation().search}</p>;
}

let restore = () => {};
afterEach(() => restore());

const rule = (id: string, name: string, position: number) => ({
  id, name, position, action: "drop", protocol: "udp", src: [], dst: ["10.0.0.0/8"], src_ports: [], dst_ports: ["53"], vlan: null, enabled: true, description: "",
});
const admin = { ...adminUser, scopes: [...adminUser.scopes, "rulesets:admin", "teams:read"] };
const ALL = ["rulesets:admin", "rules:read", "rules:write", "stats:read", "teams:read", "teams:admin", "sensors:read", "sensors:admin"];
const SETS = [
  { id: 2, name: "blue-set", description: "", team_id: 4, version: 3, default_action: "drop", my_scopes: ALL },
  { id: 1, name: "default", description: "", team_id: null, version: 9, default_action: "allow", my_scopes: ALL },
];
/** The blue set as the listing shows it to a caller holding `scopes` there. */
const blueFor = (scopes: string[]) => [{ ...SETS[0], my_scopes: scopes }];
const forbidden = { status: 403, body: { error: { code: "insufficient_scope", message: "needs rules:write", details: { required: "rules:write" } } } };

function backend({ sets = SETS, teams = [{ id: 4, name: "blue", my_role: null as string | null }], writable = true } = {}) {
  let blue = [rule("x", "blue-one", 1), rule("y", "blue-two", 2)];
  let grants: { id: number; ruleset_id: number; user_id: number | null; team_id: number | null; holder: string; role: string; scopes: string[]; created_at: null; created_by: null }[] = [{ id: 11, ruleset_id: 2, user_id: 5, team_id: null, holder: "ann@example.test", role: "viewer", scopes: ["rules:read"], created_at: null, created_by: null }];
  const fake = installFakeBackend({
    "GET /rulesets": () => ({ status: 200, body: { data: sets } }),
    "GET /teams": () => ({ status: 200, body: { data: teams } }),
    "GET /rules": () => ({ status: 200, body: { data: [rule("a", "default-one", 1)], meta: { version: 9, default_action: "allow", total: 1 } } }),
    "GET /rules/status": () => ({ status: 200, body: { data: { desired_version: 9, state: "in_sync", targets: [] } } }),
    "GET /rulesets/2/rules": () => ({ status: 200, body: { data: blue, meta: { version: 3, default_action: "drop", total: blue.length } } }),
    "POST /rulesets/2/rules": (req) => (writable ? { status: 201, body: { data: req.body, meta: { version: 4, publish: "applied" } } } : forbidden),
    "GET /rulesets/2/status": () => ({ status: 200, body: { data: { desired_version: 3, default_action: "drop", state: "in_sync", targets: [{ target: "10.0.0.2:50052", sensor_id: 2, name: "edge-b", applied_version: 3, last_publish_at: null, last_contact_at: null, last_error: null, breaker_state: "closed" }] } } }),
    "POST /rulesets/2/rules/reorder": (req) => {
      const ids = (req.body as { ids: string[] }).ids;
      blue = ids.map((id, i) => ({ ...blue.find((r) => r.id === id)!, position: i + 1 }));
      return { status: 200, body: { data: blue, meta: { version: 4, publish: "applied" } } };
    },
    "GET /rulesets/2/grants": () => (writable ? { status: 200, body: { data: grants } } : { status: 403, body: { error: { code: "insufficient_scope", message: "no" } } }),
    "POST /rulesets/2/grants": (req) => {
      const b = req.body as { team_id?: number; role: string };
      if (grants.some((g) => g.team_id === b.team_id)) return { status: 409, body: { error: { code: "conflict", message: "already granted" } } };
      const made = { id: 12, ruleset_id: 2, user_id: null, team_id: b.team_id ?? null, holder: "blue", role: b.role, scopes: [], created_at: null, created_by: null };
      grants = [...grants, made];
      return { status: 201, body: { data: made } };
    },
    "DELETE /rulesets/2/grants/11": () => {
      grants = grants.filter((g) => g.id !== 11);
      return { status: 204 };
    },
  });
  restore = fake.restore;
  return fake;
}

const names = async () => (await screen.findAllByTestId("rule-row")).map((r) => within(r).getAllByRole("cell")[1].textContent);

describe("RulesPage: rule sets", { timeout: 20_000 }, () => {
  beforeEach(() => useAuthStore.getState().clear());

  it("starts on the default set (through /rules) and switches to another set's routes", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: admin });
    const fake = backend();
    renderAt("/rules", [{ path: "/rules", element: <><RulesPage /><Search /></> }]);
    await waitFor(async () => expect(await names()).toEqual(["default-one"]));
    const picker = screen.getByLabelText("Rule set", { selector: "select" });
    // The default set first.
    expect(within(picker).getAllByRole("option").map((o) => o.textContent)).toEqual(["default (default)", "blue-set · blue"]);
    const user = userEvent.setup();
    await user.selectOptions(picker, "2");
    await waitFor(async () => expect(await names()).toEqual(["blue-one", "blue-two"]));
    expect(screen.getByTestId("search")).toHaveTextContent("?set=2");
    await user.click(screen.getByRole("button", { name: "Move blue-two up" }));
    await waitFor(() => expect(fake.calls.find((c) => c.url === "/rulesets/2/rules/reorder")?.body).toEqual({ ids: ["y", "x"] }));
    expect(fake.calls.some((c) => c.url === "/rules/reorder")).toBe(false);
    await user.click(screen.getByRole("tab", { name: "Sync status" }));
    expect(await screen.findByText("edge-b")).toBeInTheDocument();
  });

  it("manages grants: lists, adds for a team (409 in words) and removes", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: admin });
    const fake = backend();
    renderAt("/rules?set=2", [{ path: "/rules", element: <><RulesPage /><Toaster /></> }]);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Grants" }));
    const dialog = screen.getByRole("dialog", { name: "Grants on rule set blue-set" });
    expect(await within(dialog).findByRole("cell", { name: "ann@example.test" })).toBeInTheDocument();
    await user.click(within(dialog).getByLabelText("a team"));
    await user.selectOptions(within(dialog).getByLabelText("Team"), "4");
    await user.selectOptions(within(dialog).getByLabelText("Role"), "editor");
    await user.click(within(dialog).getByRole("button", { name: "Add grant" }));
    await waitFor(() => expect(fake.calls.find((c) => c.method === "POST" && c.url === "/rulesets/2/grants")?.body).toEqual({ team_id: 4, role: "editor" }));
    expect(await within(dialog).findByRole("cell", { name: "Team blue" })).toBeInTheDocument();
    await user.click(within(dialog).getByRole("button", { name: "Add grant" }));
    expect(await within(dialog).findByText(/already has a grant on this rule set/)).toBeInTheDocument();
    await user.click(within(dialog).getByRole("button", { name: "Remove the grant of ann@example.test" }));
    await waitFor(() => expect(within(dialog).queryByRole("cell", { name: "ann@example.test" })).not.toBeInTheDocument());
  });

  it("a viewer through a grant: only the listed set, read-only, no grants button", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...viewerUser, scopes: [] } });
    const fake = backend({ sets: blueFor(["rules:read", "stats:read"]), teams: [], writable: false });
    renderAt("/rules", [{ path: "/rules", element: <RulesPage /> }]);
    await waitFor(async () => expect(await names()).toEqual(["blue-one", "blue-two"]));
    expect(await screen.findByText("read-only")).toBeInTheDocument();
    // what the caller may do is read from the listing, never tried with a write
    expect(fake.calls.some((c) => c.method === "POST")).toBe(false);
    expect(screen.queryByRole("button", { name: "New rule" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Grants" })).not.toBeInTheDocument();
    expect(fake.calls.some((c) => c.url === "/rules")).toBe(false);
  });

  it("a team maintainer edits their team's set without asking the API", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...viewerUser, scopes: [] } });
    const maintainer = ["rules:read", "rules:write", "sensors:read", "stats:read", "teams:read"];
    const fake = backend({ sets: blueFor(maintainer), teams: [{ id: 4, name: "blue", my_role: "team-maintainer" }], writable: false });
    renderAt("/rules", [{ path: "/rules", element: <RulesPage /> }]);
    expect(await screen.findByRole("button", { name: "New rule" })).toBeInTheDocument();
    expect(fake.calls.some((c) => c.method === "POST")).toBe(false);
    expect(screen.queryByRole("button", { name: "Grants" })).not.toBeInTheDocument();
  });

  it("an owner through a grant edits the set and manages its grants, asking nothing", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...viewerUser, scopes: [] } });
    const fake = backend({ sets: blueFor(["rules:read", "rules:write", "rulesets:admin", "stats:read"]), teams: [] });
    renderAt("/rules", [{ path: "/rules", element: <RulesPage /> }]);
    expect(await screen.findByRole("button", { name: "New rule" })).toBeInTheDocument();
    expect(await screen.findByRole("button", { name: "Grants" })).toBeInTheDocument();
    expect(fake.calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("names a rule set the caller may not read", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...viewerUser, scopes: [] } });
    backend({ sets: [SETS[0]], teams: [] });
    renderAt("/rules?set=7", [{ path: "/rules", element: <RulesPage /> }]);
    expect(await screen.findByText(/does not exist or your account may not read it/)).toBeInTheDocument();
  });
});
