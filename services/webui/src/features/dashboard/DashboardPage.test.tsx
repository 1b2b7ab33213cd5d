import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { ChartLine } from "./SeriesChart";
import DashboardPage from "./DashboardPage";

// jsdom has no canvas: the chart shows the lines it was given as text. uPlot itself is
// exercised in the browser run (e2e/dashboard.spec.js).
vi.mock("./SeriesChart", () => ({
  SeriesChart: ({ label, lines }: { label: string; lines: ChartLine[] }) => (
    <p data-testid={`chart ${label}`}>{lines.map((l) => `${l.label}=${l.values.map((v) => v ?? "_").join(",")}`).join(" ")}</p>
  ),
}));
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, type Recorded } from "../../test/fake-backend";
import { renderAt } from "../../test/render";
import { REFRESH_MS } from "./api";

const summary = {
  packets_per_second: 1250,
  rates: { packets: 1250, bytes: 900_000, bytes_wire: 1_200_000, allow: 1000, drop: 250, malformed: 0 },
  rate_window_seconds: 10,
  packets_total: 2_500_000,
  bytes_total: 2 * 1024 ** 3,
  bytes_wire_total: 3 * 1024 ** 3,
  verdicts: { allow: 900, drop: 100, malformed: 0 },
  parse_errors: { truncated: 3 },
  flows_active: 42,
  flows_evicted_total: 0,
  ruleset_version: 9,
  targets_answered: 1,
  targets_total: 1,
};

/** A window of the server's history: `allow` holds the given increases per 5 s step. */
function series(allow: (number | null)[], targets: object[] = [{ target: "127.0.0.1:50052", stale: false, age_seconds: 0, error: null }]) {
  const line = (metric: string, values: (number | null)[]) => ({ metric, values });
  const zero = allow.map(() => 0);
  return {
    data: {
      source: "packet-service", start: 1_760_000_000, step_seconds: 5, points: allow.length, range_seconds: 900,
      history_start: 1_759_000_000, ruleset_version: 9, rule_hits_since: 1_760_000_000,
      series: [line("allow", allow), line("drop", zero), line("malformed", zero), line("bytes_wire", zero), line("bytes", zero)],
    },
    meta: { source: "packet-service", stale: targets.some((t) => (t as { stale: boolean }).stale), age_seconds: 0, targets },
  };
}

let restore = () => {};
let calls: Recorded[] = [];
beforeEach(() => useAuthStore.getState().setSession({ accessToken: "t", user: adminUser }));
afterEach(() => {
  restore();
  vi.useRealTimers();
});

function install(routes: Parameters<typeof installFakeBackend>[0]) {
  const fake = installFakeBackend({
    "GET /stats/summary": () => ({ status: 200, body: { data: summary, meta: { stale: false, age_seconds: 0, reasons: {} } } }),
    "GET /stats/rules": () => ({
      status: 200,
      body: { data: [{ rule_id: "r1", name: "drop-telnet", hits: 17 }], meta: { ruleset_version: 9, since: 1_760_000_000, stale: false } },
    }),
    "GET /stats/series": () => ({ status: 200, body: series([50, 100, null]) }),
    "GET /stats/flows/top": () => ({ status: 200, body: { data: [], meta: { flows_active: 0, next_page_token: null } } }),
    ...routes,
  });
  restore = fake.restore;
  calls = fake.calls;
}

const page = () => renderAt("/", [{ path: "/", element: <DashboardPage /> }]);

describe("DashboardPage", () => {
  it("shows rates from the server, wire bytes, verdicts and hits since the rule set's load", async () => {
    install({});
    page();
    expect(await screen.findByText("1.3 k")).toBeInTheDocument(); // packets/s = rates.packets
    expect(screen.getByText("mean of the last 10 s")).toBeInTheDocument();
    expect(screen.getByText("3 GiB")).toBeInTheDocument(); // bytes_wire_total, not bytes_total
    expect(screen.getByText("100 (10.0%)")).toBeInTheDocument();
    expect(await screen.findByText("drop-telnet")).toBeInTheDocument();
    expect(screen.getByTestId("hits-since")).toHaveTextContent(/^since rule set v9 \(loaded /);
    expect(screen.queryByTestId("stale-banner")).not.toBeInTheDocument();
  });

  it("charts per-second rates by verdict straight from the series, gaps kept", async () => {
    install({});
    page();
    // 50 and 100 packets in 5 s steps: 10/s and 20/s; the uncovered step stays a gap.
    expect(await screen.findByTestId("chart Packets per second by verdict")).toHaveTextContent("allow=10,20,_");
    expect(screen.getByTestId("chart Bytes per second")).toHaveTextContent("on the wire=0,0,0 captured=0,0,0");
    const asked = calls.find((c) => c.url === "/stats/series")!;
    expect(asked.params).toEqual({ metric: "allow,drop,malformed,bytes_wire,bytes", range: "15m" });
    expect(screen.getByText(/5 s per point · from packet-service/)).toBeInTheDocument();
  });

  it("asks the server for the range picked", async () => {
    install({});
    page();
    const picker = await screen.findByRole("radiogroup", { name: "Time range" });
    expect(within(picker).getByRole("radio", { name: "15 m" })).toHaveAttribute("aria-checked", "true");
    await userEvent.click(within(picker).getByRole("radio", { name: "1 h" }));
    await waitFor(() => expect(calls.some((c) => c.url === "/stats/series" && c.params.range === "1h")).toBe(true));
    expect(within(picker).getByRole("radio", { name: "1 h" })).toHaveAttribute("aria-checked", "true");
    expect(within(picker).getAllByRole("radio").map((r) => r.textContent)).toEqual(["5 m", "15 m", "1 h", "6 h", "24 h"]);
  });

  it("keeps nothing the server does not hold: each refresh replaces the window", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let answer = series([50, 100, 150]);
    install({ "GET /stats/series": () => ({ status: 200, body: answer }) });
    page();
    const chart = await screen.findByTestId("chart Packets per second by verdict");
    expect(chart).toHaveTextContent("allow=10,20,30");
    answer = series([100, 150, 5]);
    await act(() => vi.advanceTimersByTimeAsync(REFRESH_MS + 100));
    await waitFor(() => expect(screen.getByTestId("chart Packets per second by verdict")).toHaveTextContent("allow=20,30,1"));
    expect(screen.getByTestId("chart Packets per second by verdict").textContent).not.toContain("10,");
  });

  it("names the targets whose values are stale", async () => {
    install({
      "GET /stats/series": () => ({
        status: 200,
        body: series([1, 2], [{ target: "10.0.0.7:50052", stale: true, age_seconds: 12, error: "UNAVAILABLE: connection refused" }]),
      }),
    });
    page();
    expect(await screen.findByText(/Not answering, last known values shown: 10\.0\.0\.7:50052 \(UNAVAILABLE/)).toBeInTheDocument();
  });

  it("shows a stale banner when the summary is the last good one", async () => {
    install({ "GET /stats/summary": () => ({ status: 200, body: { data: summary, meta: { stale: true, age_seconds: 95 } } }) });
    page();
    expect(await screen.findByTestId("stale-banner")).toHaveTextContent(/stale since .* \(95 s without a fresh snapshot\)/);
  });

  it("explains a packet service that does not answer instead of failing", async () => {
    install({
      "GET /stats/summary": () => ({
        status: 503,
        body: { error: { code: "upstream_unavailable", message: "packet-service refused the credential", details: {} } },
      }),
    });
    page();
    expect(await screen.findByText(/No statistics yet: the packet service does not answer/)).toBeInTheDocument();
  });

  it("pages top flows with the server's page token", async () => {
    const flow = { vlan: null, src: "10.0.0.1", dst: "10.0.0.2", src_port: 1, dst_port: 53, protocol: 17, packets: 5, bytes: 300, first_seen: 0, last_seen: 0, tcp_flags: 0 };
    install({
      "GET /stats/flows/top": (req) => ({
        status: 200,
        body: req.params.page_token
          ? { data: [{ ...flow, src: "10.0.0.99" }], meta: { flows_active: 11, next_page_token: null } }
          : { data: [flow], meta: { flows_active: 11, next_page_token: "tok-2" } },
      }),
    });
    page();
    await userEvent.click(await screen.findByRole("tab", { name: "Top flows" }));
    expect(await screen.findByText("10.0.0.1:1")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Next" }));
    expect(await screen.findByText("10.0.0.99:1")).toBeInTheDocument();
    expect(calls.filter((c) => c.url === "/stats/flows/top").at(-1)!.params).toEqual({ n: "10", order_by: "packets", page_token: "tok-2" });
    expect(screen.getByRole("button", { name: "Next" })).toBeDisabled();
    expect(screen.getByText(/11 active flows · page 2/)).toBeInTheDocument();
  });
});

describe("DashboardPage: filter by rule set or sensor", () => {
  it("passes ?ruleset_id= and ?sensor_id= to every statistics call", async () => {
    install({
      "GET /rulesets": () => ({ status: 200, body: { data: [{ id: 2, name: "blue-set" }, { id: 1, name: "default" }] } }),
      "GET /sensors": () => ({
        status: 200,
        body: { data: [{ id: 7, name: "edge-a", address: "10.0.0.1:1", ruleset_id: 1 }, { id: 8, name: "edge-b", address: "10.0.0.2:1", ruleset_id: 2 }] },
      }),
    });
    page();
    const sets = await screen.findByLabelText("Rule set");
    expect(within(sets).getAllByRole("option").map((o) => o.textContent)).toEqual(["Every rule set", "default (default)", "blue-set"]);
    const user = userEvent.setup();
    await user.selectOptions(sets, "2");
    for (const url of ["/stats/summary", "/stats/series", "/stats/rules"]) {
      await waitFor(() => expect(calls.some((c) => c.url === url && c.params.ruleset_id === "2")).toBe(true));
    }
    // Only the chosen set's sensors are offered.
    const sensors = screen.getByLabelText("Sensor");
    expect(within(sensors).getAllByRole("option").map((o) => o.textContent)).toEqual(["Every sensor", "edge-b"]);
    await user.selectOptions(sensors, "8");
    await waitFor(() => expect(calls.some((c) => c.url === "/stats/summary" && c.params.sensor_id === "8" && c.params.ruleset_id === "2")).toBe(true));
    await user.click(screen.getByRole("tab", { name: "Top flows" }));
    await waitFor(() => expect(calls.some((c) => c.url === "/stats/flows/top" && c.params.sensor_id === "8")).toBe(true));
  }, 20_000);
});
