// The product licence in the browser, against a backend of its own in production mode: its
// licence (signed by a key made for this run) ends in 12 days, so every page warns; the admin
// reads the Licence page and installs licences through its form, a refused one and a good one.
import { ADMIN, PHONE, expect, loggedIn, login, navLink, shot, test as base } from "./fixtures.js";
import { adminApi, issueLicense, licenseKeys, scratchDir, startLicensedStack } from "./licensed-stack.js";

const test = base.extend({
  /** The licensed stack: keys, the near-expiry licence it starts with, its addresses. */
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's needs from this pattern
  licensed: [async ({}, use) => {
    const scratch = scratchDir("rookery-license-e2e-");
    let stack;
    try {
      const keys = await licenseKeys(scratch.dir);
      const license = await issueLicense(keys.privateKey, { customer: "Near Expiry Ltd", tier: "professional", days: 12, seats: 25 });
      stack = await startLicensedStack({ name: "license", license, publicKey: keys.publicKey });
      await use({ ...stack, keys, scratch: scratch.dir, api: adminApi(stack.backendUrl) });
    } finally {
      await stack?.stop();
      scratch.remove();
    }
  }, { scope: "worker", timeout: 120_000 }],

  web: async ({ licensed }, use) => use(licensed.webUrl),

  adminPage: async ({ page, web }, use) => {
    await login(page, web, ADMIN);
    await loggedIn(page);
    await use(page);
  },
});

const main = (page) => page.locator("main");
/** The value next to a term of the licence summary. */
const detail = (page, term) => page.locator("dt", { hasText: new RegExp(`^${term}$`) }).locator("xpath=following-sibling::dd[1]");
const featureRow = (page, name) => page.getByRole("row", { name: new RegExp(name) });

test("the admin sees the licence near its expiry: a banner on every page and the Licence page", async ({ adminPage: page, licensed, checkA11y }) => {
  const { body } = await licensed.api.call("GET", "/api/v1/license");
  expect(body.data).toMatchObject({ mode: "production", status: "valid", customer: "Near Expiry Ltd", tier: "professional" });
  const days = body.data.days_left;
  expect(days).toBeGreaterThanOrEqual(11);
  expect(days).toBeLessThanOrEqual(12);

  // The warning is on whatever page the admin is on, and says what stops and when.
  const banner = page.getByTestId("license-banner");
  await expect(banner).toContainText(`The Rookery licence expires in ${days} days, on `);
  await expect(banner).toContainText("Single sign-on (OpenID Connect) and Audit log export keep working for a grace period, then stop on");
  await page.goto(`${licensed.webUrl}/users`);
  await expect(banner).toBeVisible();
  await shot(page, "license-banner");

  await navLink(page, "Licence").click();
  await expect(page.getByRole("heading", { level: 1, name: "Licence" })).toBeVisible();
  await expect(page).toHaveURL(/\/license$/);
  await expect(detail(page, "Mode")).toHaveText("Production");
  await expect(detail(page, "Status")).toHaveText("Valid");
  await expect(detail(page, "Customer")).toHaveText("Near Expiry Ltd");
  await expect(detail(page, "Tier")).toHaveText("Professional");
  await expect(detail(page, "Seats used")).toHaveText("1 of 25");
  await expect(detail(page, "Days left")).toHaveText(String(days));
  await expect(detail(page, "Installed from")).toHaveText("LICENSE_KEY");
  for (const term of ["Issued", "Valid from", "Expires", "Grace period ends"]) await expect(detail(page, term)).not.toHaveText("—");
  await expect(featureRow(page, "Single sign-on")).toContainText("Active");
  await expect(featureRow(page, "Audit log export")).toContainText("Active");
  await expect(featureRow(page, "Multi-tenancy")).toContainText("Inactive");
  // The server's own warnings are listed too.
  await expect(main(page).getByRole("listitem").filter({ hasText: /expires/ })).toBeVisible();
  await shot(page, "license");
  await checkA11y(page, "license page");
});

test("at phone width the Licence page and the banner fit the screen", async ({ licensed, newPage }) => {
  const phone = await newPage(PHONE);
  await login(phone, licensed.webUrl, ADMIN);
  await phone.getByRole("button", { name: "Open menu" }).waitFor();
  await phone.goto(`${licensed.webUrl}/license`);
  await expect(phone.getByRole("heading", { level: 1, name: "Licence" })).toBeVisible();
  await expect(phone.getByTestId("license-banner")).toBeVisible();
  await expect(detail(phone, "Customer")).toHaveText("Near Expiry Ltd");
  const width = await phone.evaluate(() => document.scrollingElement.scrollWidth);
  expect(width, "the Licence page scrolls sideways").toBeLessThanOrEqual(PHONE.width);
  await shot(phone, "license-phone");
});

test("the admin installs a licence through the form: a refused one shows the server's reason, a good one replaces it", async ({ adminPage: page, licensed, checkA11y }) => {
  await page.goto(`${licensed.webUrl}/license`);
  const text = page.getByLabel("Licence text");
  const install = page.getByRole("button", { name: "Install licence" });

  // Signed with a key this server does not trust: refused, with the backend's own words.
  const other = scratchDir("rookery-license-other-");
  try {
    const otherKeys = await licenseKeys(other.dir);
    const forged = await issueLicense(otherKeys.privateKey, { customer: "Forged Inc", tier: "enterprise", days: 365 });
    const refused = await licensed.api.call("PUT", "/api/v1/license", { license: forged });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("license_invalid");
    await text.fill(forged);
    await install.click();
    await expect(main(page).getByRole("alert")).toHaveText(refused.body.error.message);
    await checkA11y(page, "license install refused");
  } finally {
    other.remove();
  }
  // Not a licence at all.
  const garbled = await licensed.api.call("PUT", "/api/v1/license", { license: "rookery1.not-a-licence" });
  expect(garbled.status).toBe(400);
  await text.fill("rookery1.not-a-licence");
  await install.click();
  await expect(main(page).getByRole("alert")).toHaveText(garbled.body.error.message);
  await expect(detail(page, "Customer")).toHaveText("Near Expiry Ltd");
  await shot(page, "license-install-refused");

  // A good one: in force at once; the page shows it and the banner goes.
  const renewed = await issueLicense(licensed.keys.privateKey, { customer: "Renewed Corp", tier: "enterprise", days: 365, seats: 100 });
  await text.fill(renewed);
  await install.click();
  await expect(main(page).getByRole("status").filter({ hasText: "Licence installed for Renewed Corp (Enterprise), valid until" })).toBeVisible();
  await expect(text).toHaveValue("");
  await expect(detail(page, "Customer")).toHaveText("Renewed Corp");
  await expect(detail(page, "Tier")).toHaveText("Enterprise");
  await expect(detail(page, "Seats used")).toHaveText("1 of 100");
  await expect(detail(page, "Installed from")).toHaveText("database");
  await expect(featureRow(page, "Multi-tenancy")).toContainText("Active");
  await expect(page.getByTestId("license-banner")).toHaveCount(0);
  await shot(page, "license-installed");

  // Stored by the server: a reload (and the API) say the same.
  await page.reload();
  await loggedIn(page);
  await expect(detail(page, "Customer")).toHaveText("Renewed Corp");
  await expect(page.getByTestId("license-banner")).toHaveCount(0);
  const { body } = await licensed.api.call("GET", "/api/v1/license");
  expect(body.data).toMatchObject({ status: "valid", customer: "Renewed Corp", tier: "enterprise", seats: { limit: 100 } });
});

test("under a community licence the gated features are off, and the audit export says why", async ({ adminPage: page, licensed, checkA11y }) => {
  const community = await issueLicense(licensed.keys.privateKey, { customer: "Small Shop", tier: "community", days: 365 });
  await page.goto(`${licensed.webUrl}/license`);
  await page.getByLabel("Licence text").fill(community);
  await page.getByRole("button", { name: "Install licence" }).click();
  await expect(main(page).getByRole("status").filter({ hasText: "Licence installed for Small Shop (Community)" })).toBeVisible();
  const installedAt = Date.now();
  for (const name of ["Single sign-on", "Multi-tenancy", "Audit log export"]) await expect(featureRow(page, name)).toContainText(/No\s*Inactive/);
  // Every worker of the backend reads an installed licence again within 2 s (its documented
  // bound, licensing/state.py REFRESH_SECONDS): the export is refused once that has passed.
  await expect.poll(async () => (await licensed.api.call("GET", "/api/v1/audit/export")).status).toBe(403);
  const bound = installedAt + 2500 - Date.now();
  if (bound > 0) await page.waitForTimeout(bound);

  await navLink(page, "Audit log").click();
  await page.getByRole("button", { name: "Export CSV" }).click();
  const alert = main(page).getByRole("alert");
  await expect(alert).toContainText("Not included in this installation's licence:");
  await expect(alert).toContainText("audit_export");
  await expect(alert).toContainText("An administrator can install a licence that includes it (Administration → Licence).");
  await shot(page, "feature-not-licensed");
  await checkA11y(page, "audit export not licensed");
});
