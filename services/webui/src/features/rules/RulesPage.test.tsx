import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import RulesPage from "./RulesPage";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, viewerUser } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

const rule = (id: string, name: string, position: number) => ({
  id, name, position, action: "drop", protocol: "udp", src: [], dst: ["10.0.0.0/8"], src_ports: [], dst_ports: ["53"],
  vlan: null, enabled: true, description: "",
});

let restore = () => {};
afterEach(() => restore());

function backend() {
  // Served out of order on purpose: the page sorts by position.
  let rules = [rule("b", "second", 2), rule("a", "first", 1), rule("c", "third", 3)];
  let version = 7;
  const fake = installFakeBackend({
    "GET /rules": () => ({ status: 200, body: { data: rules, meta: { version, default_action: "allow", total: rules.length } } }),
    "POST /rules/reorder": (req) => {
      const ids = (req.body as { ids: string[] }).ids;
      rules = ids.map((id, i) => ({ ...rules.find((r) => r.id === id)!, position: i + 1 }));
      version++;
      return { status: 200, body: { data: rules } };
    },
    "GET /rules/status": () => ({
      status: 200,
      body: { data: { desired_version: version, state: "pending", targets: [{ target: "127.0.0.1:50052", applied_version: 6, last_publish_at: null, last_error: "connection refused", breaker_state: "open" }] } },
    }),
  });
  restore = fake.restore;
  return fake;
}

describe("RulesPage", () => {
  beforeEach(() => useAuthStore.getState().clear());

  it("lists rules in evaluation order and reorders with the arrow buttons", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    const fake = backend();
    renderAt("/rules", [{ path: "/rules", element: <RulesPage /> }]);
    const names = async () => (await screen.findAllByTestId("rule-row")).map((r) => within(r).getAllByRole("cell")[1].textContent);
    await waitFor(async () => expect(await names()).toEqual(["first", "second", "third"]));
    expect(screen.getByTestId("ruleset-version")).toHaveTextContent("7");
    await userEvent.setup().click(screen.getByRole("button", { name: "Move third up" }));
    await waitFor(async () => expect(await names()).toEqual(["first", "third", "second"]));
    expect(fake.calls.find((c) => c.url === "/rules/reorder")?.body).toEqual({ ids: ["a", "c", "b"] });
    expect(screen.getByRole("button", { name: "Move first up" })).toBeDisabled();
  });

  it("reorders by drag and drop", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    const fake = backend();
    renderAt("/rules", [{ path: "/rules", element: <RulesPage /> }]);
    const rows = await screen.findAllByTestId("rule-row");
    const dataTransfer = { setData: () => {}, effectAllowed: "" };
    fireEvent.dragStart(rows[2], { dataTransfer });
    fireEvent.dragOver(rows[0], { dataTransfer });
    fireEvent.drop(rows[0], { dataTransfer });
    await waitFor(() => expect(fake.calls.find((c) => c.url === "/rules/reorder")?.body).toEqual({ ids: ["c", "a", "b"] }));
  });

  it("is read-only for a viewer", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: viewerUser });
    backend();
    renderAt("/rules", [{ path: "/rules", element: <RulesPage /> }]);
    await screen.findAllByTestId("rule-row");
    expect(screen.getByText("read-only")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "New rule" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^(Delete|Edit|Move) / })).not.toBeInTheDocument();
  });

  it("shows desired against applied versions on the status tab", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    backend();
    renderAt("/rules", [{ path: "/rules", element: <RulesPage /> }]);
    await userEvent.setup().click(screen.getByRole("tab", { name: "Sync status" }));
    expect(await screen.findByTestId("sync-state")).toHaveTextContent("pending");
    expect(screen.getByText("connection refused")).toBeInTheDocument();
    expect(screen.getByRole("cell", { name: "6" })).toBeInTheDocument();
  });
});
