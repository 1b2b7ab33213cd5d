import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useLocation } from "react-router";
import AuditPage, { describeDetails } from "./AuditPage";
import { dayBound } from "./api";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
afterEach(() => restore());

function Search() {
  return <p data-testid="search">{useLocation().search}</p>;
}
const page = <><AuditPage /><Search /></>;

const entry = (id: number, event: string, over: Record<string, unknown> = {}) => ({
  id, event, actor_id: 1, actor_email: "admin@example.test", target: "user:7", target_label: "erin@example.test",
  ip: "127.0.0.1", details: {}, created_at: "2026-01-02T03:04:05Z", ...over,
});

function backend() {
  const fake = installFakeBackend({
    "GET /audit/events": () => ({ status: 200, body: { data: ["user_created", "user_deactivated", "rule_updated"] } }),
    "GET /audit": () => ({
      status: 200,
      body: {
        data: [
          entry(2, "rule_updated", { target: "rule:ab", target_label: "block dns", details: { fields: ["dst_ports"], changes: { dst_ports: { from: ["53"], to: ["5353"] } }, version: 4 } }),
          entry(1, "user_deactivated", { details: { email: "erin@example.test" } }),
        ],
        meta: { total: 2, page: 1, per_page: 25 },
      },
    }),
    "GET /audit/export": () => ({ status: 200, body: "id,event\r\n", headers: { "content-disposition": 'attachment; filename="rookery-audit-x.csv"' } }),
  });
  restore = fake.restore;
  return fake;
}

const lastAuditQuery = (fake: ReturnType<typeof backend>) => fake.calls.filter((c) => c.url === "/audit").at(-1)!.params;

describe("AuditPage", () => {
  beforeEach(() => useAuthStore.getState().setSession({ accessToken: "t", user: adminUser }));

  it("shows readable targets and what changed", async () => {
    backend();
    renderAt("/audit", [{ path: "/audit", element: page }]);
    const rows = await screen.findAllByTestId("audit-row");
    expect(within(rows[0]).getByText("block dns")).toBeInTheDocument();
    expect(within(rows[0]).getByText("rule:ab")).toBeInTheDocument();
    expect(within(rows[0]).getByText("dst_ports: [53] → [5353]")).toBeInTheDocument();
    expect(within(rows[1]).getByText("erin@example.test", { selector: "td" })).toBeInTheDocument();
  });

  it("reads its filters, sort and page from the URL and asks the server for them", async () => {
    const fake = backend();
    renderAt("/audit?event=user_deactivated&actor=admin%40&target=erin&from=2026-01-01&to=2026-01-31&q=x&sort=event&page=2&per=10", [{ path: "/audit", element: page }]);
    await screen.findAllByTestId("audit-row");
    expect(lastAuditQuery(fake)).toMatchObject({
      event: "user_deactivated", actor: "admin@", target: "erin", q: "x", sort: "event", page: "2", per_page: "10",
      from: dayBound("2026-01-01", false), to: dayBound("2026-01-31", true),
    });
    expect(screen.getByLabelText("Actor")).toHaveValue("admin@");
    expect(screen.getByRole("columnheader", { name: /Event/ })).toHaveAttribute("aria-sort", "ascending");
  });

  it("writes filter and sort changes to the URL", async () => {
    const fake = backend();
    renderAt("/audit", [{ path: "/audit", element: page }]);
    await screen.findAllByTestId("audit-row");
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Actor"), "grace");
    await waitFor(() => expect(lastAuditQuery(fake).actor).toBe("grace"));
    expect(screen.getByTestId("search")).toHaveTextContent("actor=grace");
    await user.click(within(screen.getByRole("columnheader", { name: /Actor/ })).getByRole("button"));
    expect(screen.getByTestId("search")).toHaveTextContent("sort=actor");
    await waitFor(() => expect(lastAuditQuery(fake).sort).toBe("actor"));
  });

  it("exports the filtered log as CSV from the server", async () => {
    const fake = backend();
    renderAt("/audit?event=rule_updated", [{ path: "/audit", element: page }]);
    await screen.findAllByTestId("audit-row");
    await userEvent.setup().click(screen.getByRole("button", { name: "Export CSV" }));
    await waitFor(() => expect(fake.calls.find((c) => c.url === "/audit/export")?.params).toEqual({ event: "rule_updated" }));
  });

  it("describes details briefly", () => {
    expect(describeDetails({ fields: ["roles"], roles: ["viewer"] })).toEqual(["changed: roles", "roles: [viewer]"]);
    expect(describeDetails(null)).toEqual([]);
  });
});
