import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import RulesPage from "./RulesPage";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, viewerUser } from "../../test/fake-backend";
import { renderAt } from "../../test/render";
import { Toaster } from "../../components/Toast";
import { useLocation } from "react-router";

function Search() {
  return <p data-testid="search">{useLocation().search}</p>;
}
const page = <><RulesPage /><Toaster /><Search /></>;

const rule = (id: string, name: string, position: number) => ({
  id, name, position, action: "drop", protocol: "udp", src: [], dst: ["10.0.0.0/8"], src_ports: [], dst_ports: ["53"],
  vlan: null, enabled: true, description: "",
});

let restore = () => {};
afterEach(() => restore());

/** deploys: the status follows each change to in_sync; fails: the target refuses it. */
function backend({ deploy = "legacy" }: { deploy?: "legacy" | "deploys" | "fails" } = {}) {
  const failing = deploy === "fails";
  // Served out of order on purpose: the page sorts by position.
  let rules = [rule("b", "second", 2), rule("a", "first", 1), rule("c", "third", 3)];
  let version = 7;
  let applied = 7;
  let defaultAction = "allow";
  let statusCalls = 0;
  const fake = installFakeBackend({
    "POST /rules": (req) => {
      const made = { ...(req.body as object), id: "n", position: rules.length + 1 } as ReturnType<typeof rule>;
      rules = [...rules, made];
      version++;
      statusCalls = 0;
      return { status: 201, body: { data: made, meta: { version, publish: "pending" } } };
    },
    "PUT /rules/default-action": (req) => {
      defaultAction = (req.body as { default_action: string }).default_action;
      version++;
      return { status: 200, body: { data: { desired_version: version, state: "pending", targets: [] }, meta: { version, publish: "pending" } } };
    },
    "GET /rules/status": deploy === "legacy" ? () => ({
      status: 200,
      body: { data: { desired_version: version, state: "pending", targets: [{ target: "127.0.0.1:50052", applied_version: 6, last_publish_at: null, last_error: "connection refused", breaker_state: "open" }] } },
    }) : () => {
      // The first answer after a change is "pending"; the next says it is deployed (or not).
      statusCalls++;
      if (!failing && statusCalls > 1) applied = version;
      const behind = applied !== version;
      return {
        status: 200,
        body: { data: { desired_version: version, state: behind ? "pending" : "in_sync", targets: [{ target: "10.0.0.9:50052", applied_version: applied, last_publish_at: null, last_error: behind && failing ? "connection refused" : null, breaker_state: behind && failing ? "open" : "closed" }] } },
      };
    },
    "GET /rules": () => ({ status: 200, body: { data: rules, meta: { version, default_action: defaultAction, total: rules.length } } }),
    "POST /rules/reorder": (req) => {
      const ids = (req.body as { ids: string[] }).ids;
      rules = ids.map((id, i) => ({ ...rules.find((r) => r.id === id)!, position: i + 1 }));
      version++;
      return { status: 200, body: { data: rules } };
    },
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

  it("asks before changing the default action, which applies at once", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    const fake = backend({ deploy: "deploys" });
    renderAt("/rules", [{ path: "/rules", element: page }]);
    const user = userEvent.setup();
    await screen.findAllByTestId("rule-row");
    await user.selectOptions(screen.getByLabelText("Default action"), "drop");
    const dialog = await screen.findByRole("dialog", { name: "Change the default action" });
    expect(dialog).toHaveTextContent(/dropped/);
    expect(fake.calls.some((c) => c.method === "PUT")).toBe(false);
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(fake.calls.some((c) => c.method === "PUT")).toBe(false);
    expect(screen.getByLabelText("Default action")).toHaveValue("allow");
    await user.selectOptions(screen.getByLabelText("Default action"), "drop");
    await user.click(await screen.findByRole("button", { name: "Set default to drop" }));
    await waitFor(() => expect(fake.calls.find((c) => c.method === "PUT")?.body).toEqual({ default_action: "drop" }));
    expect(await screen.findByText("Default action set to drop")).toBeInTheDocument();
  });

  it("after a create: a toast, the new row in view and focused, and the deployment followed to in sync", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    backend({ deploy: "deploys" });
    renderAt("/rules?per=10", [{ path: "/rules", element: page }]);
    const user = userEvent.setup();
    await screen.findAllByTestId("rule-row");
    await user.click(screen.getByRole("button", { name: "New rule" }));
    await user.type(screen.getByLabelText("Name"), "fourth");
    await user.click(screen.getByRole("button", { name: "Save rule" }));
    expect(await screen.findByText("Rule “fourth” created")).toBeInTheDocument();
    const follow = await screen.findByTestId("deployment-follow");
    await waitFor(() => expect(follow).toHaveTextContent(/version 8 is live on the packet service/), { timeout: 5000 });
    const row = (await screen.findAllByTestId("rule-row")).find((r) => r.textContent?.includes("fourth"))!;
    await waitFor(() => expect(within(row).getByRole("button", { name: "Edit fourth" })).toHaveFocus());
    expect(row).toHaveClass("row-highlight");
  }, 10_000);

  it("shows the failing packet services and the reason where the change was made", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    backend({ deploy: "fails" });
    renderAt("/rules", [{ path: "/rules", element: page }]);
    const user = userEvent.setup();
    await screen.findAllByTestId("rule-row");
    await user.click(screen.getByRole("button", { name: "New rule" }));
    await user.type(screen.getByLabelText("Name"), "fourth");
    await user.click(screen.getByRole("button", { name: "Save rule" }));
    const follow = await screen.findByTestId("deployment-follow");
    await waitFor(() => expect(follow).toHaveTextContent(/version 8 is not deployed on 1 of 1 packet service/), { timeout: 5000 });
    expect(follow).toHaveTextContent(/10\.0\.0\.9:50052 runs version 7: connection refused \(paused after repeated failures\)/);
  }, 10_000);

  it("sorts, filters and pages from the URL, and writes changes back to it", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    backend();
    renderAt("/rules?sort=-name", [{ path: "/rules", element: page }]);
    const names = async () => (await screen.findAllByTestId("rule-row")).map((r) => within(r).getAllByRole("cell")[1].textContent);
    await waitFor(async () => expect(await names()).toEqual(["third", "second", "first"]));
    expect(screen.getByRole("columnheader", { name: /Name/ })).toHaveAttribute("aria-sort", "descending");
    // Sorted otherwise than by evaluation order: no reordering.
    expect(screen.queryByRole("button", { name: /^Move / })).not.toBeInTheDocument();
    const user = userEvent.setup();
    await user.click(within(screen.getByRole("columnheader", { name: /Name/ })).getByRole("button"));
    await waitFor(async () => expect(await names()).toEqual(["first", "second", "third"]));
    expect(screen.getByTestId("search")).toHaveTextContent("?sort=name");
    await user.type(screen.getByLabelText("Filter rules", { selector: "input" }), "thi");
    await waitFor(async () => expect(await names()).toEqual(["third"]));
    expect(screen.getByTestId("search")).toHaveTextContent("q=thi");
    await user.clear(screen.getByLabelText("Filter rules", { selector: "input" }));
    await user.selectOptions(screen.getByLabelText("Rows per page"), "10");
    expect(screen.getByTestId("search")).toHaveTextContent("per=10");
  });
});
