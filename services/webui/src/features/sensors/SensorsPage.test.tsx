import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import SensorsPage from "./SensorsPage";
import { Toaster } from "../../components/Toast";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, viewerUser } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
afterEach(() => restore());

const admin = { ...adminUser, scopes: [...adminUser.scopes, "sensors:read", "sensors:admin", "teams:read"] };
const target = (sensor_id: number, applied: number, error: string | null = null) => ({
  target: `10.0.0.${sensor_id}:50052`, sensor_id, name: `s${sensor_id}`, applied_version: applied, last_publish_at: null, last_contact_at: null,
  last_error: error, breaker_state: error ? "open" : "closed",
});

function backend() {
  let sensors = [
    { id: 1, name: "edge-a", address: "10.0.0.1:50052", ruleset_id: 1, team_id: null, created_at: null },
    { id: 2, name: "edge-b", address: "10.0.0.2:50052", ruleset_id: 2, team_id: 4, created_at: null },
  ];
  const fake = installFakeBackend({
    "GET /sensors": () => ({ status: 200, body: { data: sensors } }),
    "GET /rulesets": () => ({ status: 200, body: { data: [{ id: 2, name: "blue-set", team_id: 4 }, { id: 1, name: "default", team_id: null }] } }),
    "GET /teams": () => ({ status: 200, body: { data: [{ id: 4, name: "blue", my_role: null }] } }),
    "GET /rulesets/1/status": () => ({ status: 200, body: { data: { desired_version: 9, default_action: "allow", state: "in_sync", targets: [target(1, 9)] } } }),
    "GET /rulesets/2/status": () => ({ status: 200, body: { data: { desired_version: 4, default_action: "drop", state: "pending", targets: [target(2, 3, "connection refused")] } } }),
    "PATCH /sensors/2": (req) => {
      sensors = sensors.map((s) => (s.id === 2 ? { ...s, ...(req.body as object) } : s));
      return { status: 200, body: { data: sensors[1] } };
    },
    "POST /sensors": () => ({ status: 409, body: { error: { code: "conflict", message: "a sensor with this address exists", details: { fields: { address: "already in use" } } } } }),
  });
  restore = fake.restore;
  return fake;
}

describe("SensorsPage", { timeout: 20_000 }, () => {
  beforeEach(() => useAuthStore.getState().clear());

  it("shows each sensor's rule set and publish state, and moves a sensor", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: admin });
    const fake = backend();
    renderAt("/sensors", [{ path: "/sensors", element: <><SensorsPage /><Toaster /></> }]);
    const rows = await screen.findAllByTestId("sensor-row");
    expect(rows.map((r) => r.textContent)).toEqual([expect.stringContaining("edge-a"), expect.stringContaining("edge-b")]);
    await waitFor(() => expect(within(rows[0]).getByTestId("publish-state")).toHaveTextContent("in sync"));
    await waitFor(() => expect(within(rows[1]).getByTestId("publish-state")).toHaveTextContent(/failing.*runs version 3 of 4.*connection refused/));
    expect(within(rows[1]).getByRole("cell", { name: "blue" })).toBeInTheDocument();
    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText("Rule set of edge-b"), "1");
    await waitFor(() => expect(fake.calls.find((c) => c.method === "PATCH")?.body).toEqual({ ruleset_id: 1 }));
    expect(await screen.findByText("Sensor “edge-b” now enforces “default”")).toBeInTheDocument();
  });

  it("explains a 409 when registering", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: admin });
    const fake = backend();
    renderAt("/sensors", [{ path: "/sensors", element: <SensorsPage /> }]);
    const user = userEvent.setup();
    await screen.findAllByTestId("sensor-row");
    await waitFor(() => expect(screen.getByRole("button", { name: "Register sensor" })).toBeEnabled());
    await user.click(screen.getByRole("button", { name: "Register sensor" }));
    const dialog = screen.getByRole("dialog", { name: "Register a sensor" });
    await user.type(within(dialog).getByLabelText("Name"), "edge-c");
    await user.type(within(dialog).getByLabelText("Address"), "10.0.0.2:50052");
    await user.selectOptions(within(dialog).getByLabelText("Rule set it enforces"), "2");
    await user.click(within(dialog).getByRole("button", { name: "Register sensor" }));
    expect(await within(dialog).findByText("A sensor with this name or address is already registered.")).toBeInTheDocument();
    expect(within(dialog).getByText(/already in use/i)).toBeInTheDocument();
    expect(fake.calls.find((c) => c.method === "POST")?.body).toEqual({ name: "edge-c", address: "10.0.0.2:50052", ruleset_id: 2 });
  });

  it("offers no changes to a reader", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...viewerUser, scopes: [...viewerUser.scopes, "sensors:read"] } });
    backend();
    renderAt("/sensors", [{ path: "/sensors", element: <SensorsPage /> }]);
    await screen.findAllByTestId("sensor-row");
    expect(screen.queryByRole("button", { name: "Register sensor" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Remove sensor/ })).not.toBeInTheDocument();
    expect(screen.queryByLabelText(/^Rule set of/)).not.toBeInTheDocument();
  });
});
