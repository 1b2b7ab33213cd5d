import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen } from "@testing-library/react";
import DashboardPage from "./DashboardPage";

// jsdom has no canvas; the chart itself is exercised in the browser run.
vi.mock("./PpsChart", () => ({ PpsChart: ({ values }: { values: number[] }) => <p data-testid="chart">{values.join(",")}</p> }));
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

const summary = (stale: boolean) => ({
  packets_per_second: 1250, packets_total: 2_500_000, bytes_total: 3 * 1024 ** 3,
  verdicts: { allow: 900, drop: 100 }, parse_errors: { truncated: 3 }, flows_active: 42,
  ruleset_version: 9, stale, age_seconds: stale ? 95 : 1,
});

let restore = () => {};
beforeEach(() => useAuthStore.getState().setSession({ accessToken: "t", user: adminUser }));
afterEach(() => restore());

function routes(stale: boolean, summaryStatus = 200) {
  restore = installFakeBackend({
    "GET /stats/summary": () =>
      summaryStatus === 200
        ? { status: 200, body: { data: summary(stale) } }
        : { status: summaryStatus, body: { error: { code: "upstream_unavailable", message: "no snapshot" } } },
    "GET /stats/rules": () => ({ status: 200, body: { data: [{ rule_id: "r1", name: "drop-telnet", hits: 17 }] } }),
    "GET /stats/flows/top": () => ({ status: 200, body: { data: [], stale } }),
  }).restore;
}

describe("DashboardPage", () => {
  it("shows the counters, verdict breakdown and rule hits", async () => {
    routes(false);
    renderAt("/", [{ path: "/", element: <DashboardPage /> }]);
    expect(await screen.findByText("1.3 k")).toBeInTheDocument();
    expect(screen.getByText("3.0 GiB")).toBeInTheDocument();
    expect(screen.getByText("100 (10.0%)")).toBeInTheDocument();
    expect(await screen.findByText("drop-telnet")).toBeInTheDocument();
    expect(screen.getByTestId("chart")).toHaveTextContent("1250");
    expect(screen.queryByTestId("stale-banner")).not.toBeInTheDocument();
  });

  it("shows a stale banner when the backend reports stale data in meta", async () => {
    const { stale: _s, age_seconds: _a, ...data } = summary(false);
    restore = installFakeBackend({
      "GET /stats/summary": () => ({ status: 200, body: { data, meta: { stale: true, age_seconds: 95 } } }),
      "GET /stats/rules": () => ({ status: 200, body: { data: [] } }),
    }).restore;
    renderAt("/", [{ path: "/", element: <DashboardPage /> }]);
    expect(await screen.findByTestId("stale-banner")).toHaveTextContent(/stale since .* \(95 s without a fresh snapshot\)/);
  });

  it("explains a missing snapshot instead of failing", async () => {
    routes(false, 503);
    renderAt("/", [{ path: "/", element: <DashboardPage /> }]);
    expect(await screen.findByText(/No statistics yet/)).toBeInTheDocument();
  });
});
