// The audit log: event-type filter, actor and target filters, readable targets, CSV export.
import { readFileSync } from "node:fs";
import { ADMIN, expect, navLink, shot, test } from "./fixtures.js";

test("audit log pages and filters by event type", async ({ adminPage: admin, checkA11y }) => {
  await navLink(admin, "Audit log").click();
  await admin.getByRole("heading", { name: "Audit log" }).waitFor();
  await admin.locator("tbody tr").first().waitFor();
  const options = await admin.getByLabel("Event type").locator("option").allTextContents();
  expect(options.length, "no event types offered").toBeGreaterThan(1);
  await admin.getByLabel("Event type").selectOption(options[1]);
  await admin.waitForFunction((ev) => [...document.querySelectorAll("tbody tr td:nth-child(2)")].every((td) => td.textContent === ev), options[1]);
  await shot(admin, "audit");
  await checkA11y(admin, "audit");
});

test("audit log: filter by actor and target, readable targets, export the filtered log as CSV", async ({ adminPage: page, web, api, checkA11y }) => {
  await page.goto(`${web}/audit?actor=${encodeURIComponent(ADMIN.email)}&event=login_succeeded`);
  await page.getByTestId("audit-row").first().waitFor();
  const actors = await page.locator("[data-testid=audit-row] td:nth-child(3)").allTextContents();
  expect(actors.length > 0 && actors.every((a) => a === ADMIN.email), `actor filter: ${actors.slice(0, 3).join(", ")}`).toBe(true);
  // A rule made through the API shows up by its name, and the target filter finds it so.
  const res = await api.call("POST", "/api/v1/rules", { name: "audit-e2e-rule", action: "count", protocol: "udp", dst_ports: ["9"] });
  expect(res.status, `creating a rule answered ${res.status}`).toBe(201);
  await page.goto(`${web}/audit?target=audit-e2e`);
  const target = page.locator("[data-testid=audit-row] td:nth-child(4)").first();
  await target.filter({ hasText: "audit-e2e-rule" }).waitFor();
  await page.goto(`${web}/audit?actor=${encodeURIComponent(ADMIN.email)}&event=login_succeeded`);
  await page.getByTestId("audit-row").first().waitFor();
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
  const csv = readFileSync(await download.path(), "utf8");
  const lines = csv.trim().split(/\r?\n/);
  expect(lines[0].startsWith("id,created_at,event,actor_id,actor_email,target,target_label"), `CSV header: ${lines[0]}`).toBe(true);
  expect(lines.length > 1 && lines.slice(1).every((l) => l.includes(",login_succeeded,")), "CSV ignores the filters").toBe(true);
  await shot(page, "audit-filtered");
  await checkA11y(page, "audit-filtered");
  // The rule served its purpose: the other scenarios see the rule set without it.
  expect((await api.call("DELETE", `/api/v1/rules/${res.body.data.id}`)).status).toBe(200);
});
