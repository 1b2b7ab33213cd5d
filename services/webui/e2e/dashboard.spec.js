// The dashboard: the admin's landing page with every section in the navigation, and live
// statistics while packet-service classifies steady traffic.
import { ADMIN, expect, loggedIn, login, navLink, shot, sleep, test } from "./fixtures.js";

// This file's own rule and destination, so the rules scenarios' verdicts for 10.9.9.9 stay theirs.
const DST = "10.9.8.8";
const RULE = "dashboard-dns";

test("admin logs in and sees every section", async ({ adminPage: admin, checkA11y }) => {
  const nav = admin.getByRole("navigation", { name: "Main" });
  for (const name of ["Dashboard", "Rules", "API keys", "Users", "Roles", "Audit log"]) {
    await nav.getByRole("link", { name }).waitFor();
  }
  expect(admin.url().endsWith("/dashboard"), `landed on ${admin.url()}`).toBe(true);
  await admin.getByRole("heading", { name: "Dashboard" }).waitFor();
  // Either live counters or the explicit "no snapshot yet" notice, never a blank page.
  await admin.getByText("Packets / s").or(admin.getByText(/No statistics yet/)).first().waitFor();
  await sleep(3500); // the charts fill in after the first paint: the screenshot shows them
  await shot(admin, "dashboard");
  await checkA11y(admin, "dashboard");
});

test("dashboard shows live statistics while traffic flows: rates, charts, range picker, top flows and rule hits", async ({ adminPage: admin, web, api, newPage, checkA11y }) => {
  // A rule the traffic hits, live on packet-service before the traffic starts.
  const created = await api.call("POST", "/api/v1/rules", { name: RULE, action: "allow", protocol: "udp", dst: [`${DST}/32`], dst_ports: ["53"] });
  expect(created.status, `creating the rule answered ${created.status}`).toBe(201);
  await expect.poll(async () => (await api.call("GET", "/api/v1/rules/status")).body?.data?.state, { timeout: 20_000 }).toBe("in_sync");
  for (let i = 0; i < 5; i++) await api.classify(DST, 53);
  // Steady traffic (200 frames/s) while two viewers watch: each must see a non-zero
  // rate, which the backend takes from packet-service's history, not from its callers.
  const replay = await api.replay(DST, 53, 40, 200);
  const second = await newPage();
  try {
    await navLink(admin, "Dashboard").click();
    await login(second, web, ADMIN);
    await loggedIn(second);
    const total = admin.locator(".card", { hasText: "Packets total" }).locator("p").nth(1);
    await total.filter({ hasNotText: /^0$/ }).waitFor({ timeout: 20_000 });
    // The replay's rate (not the few classify calls): at least 100/s for both viewers.
    const replayRate = /^([1-9]\d{2,}|\d+(\.\d+)? k)$/;
    for (const viewer of [admin, second]) {
      const rate = viewer.locator(".card", { hasText: "Packets / s" }).locator("p").nth(1);
      await rate.filter({ hasText: replayRate }).waitFor({ timeout: 30_000 });
    }
    // The verdict chart's latest allow rate is the replay's; its legend and tooltip work.
    const chart = admin.getByRole("img", { name: /^Packets per second by verdict; latest: allow ([1-9]\d{1,}|\d+(\.\d+)? k)\/s/ });
    await chart.waitFor({ timeout: 20_000 });
    expect(await admin.locator(".uplot canvas").count(), "the charts were not drawn").toBeGreaterThanOrEqual(2);
    await admin.getByRole("list", { name: "Packets per second by verdict legend" }).getByText("malformed").waitFor();
    const box = await chart.boundingBox();
    await admin.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2);
    await admin.getByTestId("chart-tooltip").filter({ hasText: "allow:" }).waitFor();
    await admin.locator("section", { hasText: "Rule hits" }).getByText(RULE).waitFor();
    await admin.getByTestId("hits-since").filter({ hasText: /^since rule set v\d+/ }).waitFor();
    await shot(admin, "dashboard-live");
    await checkA11y(admin, "dashboard-live");
    // Another range: the server answers it (3600 s / 300 points = 12 s a point).
    const picker = admin.getByRole("radiogroup", { name: "Time range" });
    await picker.getByRole("radio", { name: "1 h" }).click();
    await admin.getByText(/^12 s per point/).waitFor();
    expect(await picker.getByRole("radio", { name: "1 h" }).getAttribute("aria-checked"), "1 h not selected").toBe("true");
    expect(admin.url(), `range not in ${admin.url()}`).toContain("range=1h");
    await shot(admin, "dashboard-1h");
    await admin.getByRole("tab", { name: "Top flows" }).click();
    await admin.getByRole("cell", { name: new RegExp(DST.replace(/\./g, "\\.")) }).first().waitFor({ timeout: 20_000 });
    await shot(admin, "dashboard-flows");
    await checkA11y(admin, "dashboard-flows");
  } finally {
    replay.kill();
  }
  // The rule served its purpose: the other scenarios see the rule set without it.
  expect((await api.call("DELETE", `/api/v1/rules/${created.body.data.id}`)).status).toBe(200);
});
