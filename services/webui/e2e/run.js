// Browser end-to-end run: the real trio on loopback, Debian's Chromium driven by
// playwright-core, axe-core on every page. Prints one line per scenario and a closing
// "N passed, N failed, N skipped" line; writes test-results/e2e.json for scripts/test.sh.
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ADMIN, startTrio } from "./harness.js";
import { totp } from "./totp.js";
import { adminUxScenarios } from "./admin-ux.js";
import { accountUxScenarios } from "./account-ux.js";

const here = dirname(fileURLToPath(import.meta.url));
const webuiDir = resolve(here, "..");
const root = resolve(webuiDir, "..", "..");
const shotDir = join(root, "artifacts", "webui");
const ACCESS_TTL = 6; // seconds: short so the refresh scenario waits only a few seconds
const CHROME_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--no-first-run", "--disable-sync",
];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);

class Skip extends Error {}
function expect(cond, message) {
  if (!cond) throw new Error(message);
}

const VIEWER = { email: `viewer-${Date.now()}@rookery.local`, password: "Viewer-e2e-Passw0rd!" };
const axeFindings = [];
let lastPage = null;
const browserProblems = []; // CSP violations and uncaught exceptions seen on any page // the page a scenario opened last: what a failure screenshot shows

async function shot(page, name) {
  await page.screenshot({ path: join(shotDir, `${name}.png`), fullPage: true });
}

/** axe-core over the page as it stands: serious or critical violations fail the scenario. */
async function checkA11y(page, name) {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  axeFindings.push({ page: name, violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })) });
  if (bad.length) {
    const detail = bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`).join("; ");
    throw new Error(`axe on ${name}: ${detail}`);
  }
}

async function login(page, web, { email, password }, { remember = true } = {}) {
  await page.goto(`${web}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  const box = page.getByLabel("Remember me");
  if ((await box.isChecked()) !== remember) await box.click();
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function loggedIn(page) {
  await page.getByRole("navigation", { name: "Main" }).waitFor({ timeout: 15_000 });
}

async function logout(page) {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/\/login$/);
}

async function main() {
  rmSync(shotDir, { recursive: true, force: true });
  mkdirSync(shotDir, { recursive: true });
  mkdirSync(join(webuiDir, "test-results"), { recursive: true });
  const started = Date.now();
  const results = [];
  let trio = null;
  let browser = null;
  try {
    trio = await startTrio({ root, logDir: join(shotDir, "logs"), accessTtl: ACCESS_TTL });
    const web = trio.webUrl;
    console.log(`[e2e] trio up: web ${web}, backend ${trio.backendUrl}, packet-service ${trio.packetTarget ?? "absent"}`);

    // Probe the rules and statistics APIs; the scenarios that need them skip without them.
    // A fresh admin access token for REST calls made outside the browser (they live ACCESS_TTL s).
    const apiToken = async () => {
      const res = await fetch(`${trio.backendUrl}/api/v1/auth/login`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(ADMIN),
      });
      return (await res.json()).data?.access_token;
    };
    const adminToken = await apiToken();
    const rulesProbe = await fetch(`${trio.backendUrl}/api/v1/rules`, { headers: { authorization: `Bearer ${adminToken}` } });
    const hasRules = rulesProbe.status !== 404;
    const statsProbe = await fetch(`${trio.backendUrl}/api/v1/stats/summary`, { headers: { authorization: `Bearer ${adminToken}` } });
    const hasStats = statsProbe.status !== 404;
    // Every scenario needs both APIs: a backend without them is a failed run, never a skip.
    if (!hasRules || !hasStats) throw new Error("the backend under test has no rules or stats API");

    browser = await chromium.launch({ executablePath: process.env.CHROME_PATH ?? "/usr/bin/chromium", headless: true, args: CHROME_ARGS });
    const newPage = async (viewport = { width: 1280, height: 860 }) => {
      const ctx = await browser.newContext({ viewport, reducedMotion: "reduce" });
      const page = await ctx.newPage();
      page.setDefaultTimeout(15_000);
      page.on("console", (msg) => {
        if (/Content[- ]Security[- ]Policy/i.test(msg.text())) browserProblems.push(`CSP: ${msg.text()}`);
      });
      page.on("pageerror", (err) => browserProblems.push(`uncaught: ${err.message}`));
      lastPage = page;
      return page;
    };
    const admin = await newPage();

    let packetToken = "";
    async function classify(dst, port) {
      if (!packetToken) {
        // An API key with packets:write, in case packet-service asks callers to authenticate.
        const res = await fetch(`${trio.backendUrl}/api/v1/apikeys`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${await apiToken()}` },
          body: JSON.stringify({ name: "e2e-classify", scopes: ["packets:write"] }),
        });
        packetToken = (await res.json()).data?.key ?? "";
      }
      const { stdout } = await run(trio.py, [join(here, "classify.py"), trio.packetTarget, "192.0.2.10", dst, String(port)], {
        env: { ...process.env, PYTHONPATH: join(root, "services", "packet-service"), ROOKERY_TOKEN: packetToken },
      });
      return JSON.parse(stdout).verdict;
    }
    async function expectVerdict(dst, port, want) {
      let got = null;
      for (let i = 0; i < 40; i++) {
        got = await classify(dst, port);
        if (got === want) return;
        await sleep(250);
      }
      throw new Error(`packet-service verdict for ${dst}:${port} is ${got}, expected ${want}`);
    }

    const scenarios = [
      ["bad login shows an error; the login page is accessible", async () => {
        const page = await newPage();
        await page.goto(`${web}/login`);
        expect((await page.getByLabel("Email").inputValue()) === "", "email is pre-filled");
        expect((await page.getByLabel("Password").getAttribute("type")) === "password", "password not masked");
        await shot(page, "login");
        await checkA11y(page, "login");
        await login(page, web, { email: ADMIN.email, password: "wrong-password" });
        await page.getByRole("alert").filter({ hasText: "Email or password is incorrect." }).waitFor();
        await shot(page, "login-error");
        await page.context().close();
      }],
      ["forgot-password request and reset pages work against the backend", async () => {
        const page = await newPage();
        await page.goto(`${web}/login`);
        await page.getByRole("link", { name: "Forgot password?" }).click();
        await page.getByLabel("Email").fill("nobody@rookery.local");
        await page.getByRole("button", { name: "Send reset link" }).click();
        await page.getByText("If an account exists for that address").waitFor();
        await shot(page, "forgot-password");
        await checkA11y(page, "forgot-password");
        await page.goto(`${web}/reset-password?token=not-a-real-token`);
        await page.getByLabel("New password", { exact: true }).fill("Another-Passw0rd!");
        await page.getByLabel("Repeat new password").fill("Another-Passw0rd!");
        await page.getByRole("button", { name: "Set password" }).click();
        await page.getByRole("alert").filter({ hasText: "invalid or has expired" }).waitFor();
        await shot(page, "reset-password");
        await checkA11y(page, "reset-password");
        await page.context().close();
      }],
      ["admin logs in and sees every section", async () => {
        await login(admin, web, ADMIN);
        await loggedIn(admin);
        const nav = admin.getByRole("navigation", { name: "Main" });
        for (const name of ["Dashboard", "Rules", "API keys", "Users", "Roles", "Audit log"]) {
          await nav.getByRole("link", { name }).waitFor();
        }
        expect(admin.url().endsWith("/dashboard"), `landed on ${admin.url()}`);
        await admin.getByRole("heading", { name: "Dashboard" }).waitFor();
        if (hasStats) {
          // Either live counters or the explicit "no snapshot yet" notice, never a blank page.
          await admin.getByText("Packets / s").or(admin.getByText(/No statistics yet/)).first().waitFor();
          await sleep(3500);
        } else {
          await admin.getByText(/does not offer packet statistics yet/).waitFor();
        }
        await shot(admin, "dashboard");
        await checkA11y(admin, "dashboard");
      }],
      ["admin creates a viewer user with confirmation dialogs for destructive actions", async () => {
        await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
        await admin.getByRole("heading", { name: "Users" }).waitFor();
        await admin.getByRole("button", { name: "New user" }).click();
        const dialog = admin.getByRole("dialog", { name: "Create user" });
        await dialog.getByLabel("Email").fill(VIEWER.email);
        await dialog.getByLabel("Initial password").fill(VIEWER.password);
        const viewerBox = dialog.getByRole("checkbox", { name: "viewer" });
        if (!(await viewerBox.isChecked())) await viewerBox.check();
        await checkA11y(admin, "users-create-dialog");
        await dialog.getByRole("button", { name: "Create user" }).click();
        await admin.getByRole("cell", { name: VIEWER.email, exact: true }).waitFor();
        await admin.getByLabel("Search by email").fill(VIEWER.email);
        await admin.waitForFunction(() => document.querySelectorAll("tbody tr").length === 1);
        await admin.getByRole("button", { name: `Delete ${VIEWER.email}` }).click();
        await admin.getByRole("dialog", { name: "Delete user" }).getByRole("button", { name: "Cancel" }).click();
        await admin.getByLabel("Search by email").fill("");
        await admin.getByRole("cell", { name: VIEWER.email, exact: true }).waitFor();
        // A throwaway account: deactivate it, find it under "Inactive", then delete it.
        const created = `temp-${Date.now()}@rookery.local`;
        await admin.getByRole("button", { name: "New user" }).click();
        await dialog.getByLabel("Email").fill(created);
        await dialog.getByLabel("Initial password").fill("Temp-e2e-Passw0rd!");
        await dialog.getByRole("button", { name: "Create user" }).click();
        await admin.getByRole("cell", { name: created, exact: true }).waitFor();
        // Edit its e-mail and password through the edit dialog.
        const temp = created.replace("temp-", "renamed-");
        await admin.getByRole("button", { name: `Edit ${created}` }).click();
        const edit = admin.getByRole("dialog", { name: `Edit ${created}` });
        await edit.getByLabel("Email").fill(temp);
        await edit.getByLabel(/New password/).fill("Renamed-e2e-Passw0rd!");
        await edit.getByRole("button", { name: "Save" }).click();
        await admin.getByRole("cell", { name: temp, exact: true }).waitFor();
        await admin.getByRole("button", { name: `Deactivate ${temp}` }).click();
        await admin.getByRole("dialog", { name: "Deactivate user" }).getByRole("button", { name: "Deactivate" }).click();
        await admin.getByRole("button", { name: `Activate ${temp}` }).waitFor();
        await admin.getByLabel("Status").selectOption("inactive");
        await admin.waitForFunction((email) => {
          const cells = [...document.querySelectorAll("tbody tr td:first-child")].map((td) => td.textContent);
          return cells.length === 1 && cells[0] === email;
        }, temp);
        await admin.getByRole("button", { name: `Delete ${temp}` }).click();
        await admin.getByRole("dialog", { name: "Delete user" }).getByRole("button", { name: "Delete" }).click();
        await admin.getByRole("cell", { name: temp, exact: true }).waitFor({ state: "detached" });
        await admin.getByLabel("Status").selectOption("");
        await admin.getByRole("cell", { name: VIEWER.email, exact: true }).waitFor();
        await shot(admin, "users");
        await checkA11y(admin, "users");
      }],
      ["roles page builds a custom role from scope checkboxes", async () => {
        await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Roles" }).click();
        await admin.getByRole("button", { name: "New role" }).click();
        const dialog = admin.getByRole("dialog", { name: "Create role" });
        await dialog.getByLabel("Name").fill("auditor");
        await dialog.getByLabel("Description").fill("Reads the audit log");
        await dialog.getByRole("checkbox", { name: /audit:read/ }).check();
        await dialog.getByRole("button", { name: "Save role" }).click();
        await admin.getByRole("heading", { name: "auditor" }).waitFor();
        await shot(admin, "roles");
        await checkA11y(admin, "roles");
      }],
      ["API key is shown once with a copy button, and revoking it works", async () => {
        await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API keys" }).click();
        await admin.getByRole("button", { name: "New API key" }).click();
        const dialog = admin.getByRole("dialog", { name: "Create API key" });
        await dialog.getByLabel("Name").fill("e2e-key");
        await dialog.getByRole("checkbox", { name: /stats:read/ }).check();
        await dialog.getByRole("button", { name: "Create key" }).click();
        const reveal = admin.getByRole("dialog", { name: "Your new API key" });
        const key = await reveal.getByTestId("new-api-key").inputValue();
        expect(key.length > 16, "no key shown");
        await reveal.getByRole("button", { name: "Copy" }).waitFor();
        await shot(admin, "apikey-created");
        await reveal.getByRole("button", { name: "I have copied it" }).click();
        await admin.getByRole("cell", { name: "e2e-key", exact: true }).waitFor();
        expect(!(await admin.content()).includes(key), "the key is still on the page after closing");
        const use = () => fetch(`${web}/api/v1/auth/me`, { headers: { "X-API-Key": key } }).then((r) => r.status);
        expect((await use()) === 200, "the new key does not authenticate");
        await shot(admin, "apikeys");
        await checkA11y(admin, "apikeys");
        // Rotate: a new secret shown once, the old one dead at once.
        await admin.getByRole("button", { name: "Rotate e2e-key" }).click();
        await admin.getByRole("dialog", { name: "Rotate API key" }).getByRole("button", { name: "Rotate" }).click();
        const rotated = await admin.getByRole("dialog", { name: "Your new API key" }).getByTestId("new-api-key").inputValue();
        await admin.getByRole("dialog", { name: "Your new API key" }).getByRole("button", { name: "I have copied it" }).click();
        expect(rotated.length > 16 && rotated !== key, "rotation did not show a new key");
        expect((await use()) === 401, "the rotated-away key still authenticates");
        const useRotated = () => fetch(`${web}/api/v1/auth/me`, { headers: { "X-API-Key": rotated } }).then((r) => r.status);
        expect((await useRotated()) === 200, "the rotated key does not authenticate");
        await admin.getByRole("button", { name: "Revoke e2e-key" }).click();
        await admin.getByRole("dialog", { name: "Revoke API key" }).getByRole("button", { name: "Revoke" }).click();
        await admin.getByRole("cell", { name: "e2e-key", exact: true }).waitFor({ state: "detached" });
        expect((await useRotated()) === 401, "the revoked key still authenticates");
      }],
      ["the built-in service account is marked, and deactivating it or revoking its key warns first", async () => {
        const account = "packet-publisher@rookery.internal";
        await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
        await admin.getByLabel("Search by email").fill(account);
        const cell = admin.getByRole("cell", { name: new RegExp(account.replace(/\./g, "\\.")) });
        await cell.getByText("service account").waitFor();
        await admin.getByRole("button", { name: `Deactivate ${account}` }).click();
        const dialog = admin.getByRole("dialog", { name: "Deactivate user" });
        await dialog.getByRole("button", { name: "Deactivate", exact: true }).click();
        // The backend refuses without force and says what would stop; nothing is forced here
        // (rule publishing must keep working for the scenarios after this one).
        await dialog.getByText(/deactivating it stops/).waitFor();
        await dialog.getByRole("button", { name: "Deactivate anyway" }).waitFor();
        await shot(admin, "users-service-account-warning");
        await checkA11y(admin, "users-service-account-warning");
        await dialog.getByRole("button", { name: "Cancel" }).click();
        await admin.getByRole("button", { name: `Deactivate ${account}` }).waitFor();
        await admin.getByLabel("Search by email").fill("");
        await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API keys" }).click();
        await admin.getByLabel("Show every user's keys").check();
        const row = admin.getByRole("row").filter({ hasText: account }).first();
        await row.getByText("service account").waitFor();
        await row.getByRole("button", { name: /^Revoke / }).click();
        const revoke = admin.getByRole("dialog", { name: "Revoke API key" });
        await revoke.getByRole("button", { name: "Revoke", exact: true }).click();
        await revoke.getByRole("button", { name: "Revoke anyway" }).waitFor();
        await revoke.getByText(/revoking its key stops/).waitFor();
        await shot(admin, "apikeys-service-account-warning");
        await revoke.getByRole("button", { name: "Cancel" }).click();
        // The box follows the URL, which updates a moment after the click: click, then
        // wait for the box to follow (uncheck() would demand the change at once).
        const everyone = admin.getByLabel("Show every user's keys");
        await everyone.click();
        for (let i = 0; i < 50 && (await everyone.isChecked()); i++) await sleep(100);
        expect(!(await everyone.isChecked()), "'Show every user's keys' stayed ticked");
      }],
      ["audit log pages and filters by event type", async () => {
        await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
        await admin.getByRole("heading", { name: "Audit log" }).waitFor();
        await admin.locator("tbody tr").first().waitFor();
        const options = await admin.getByLabel("Event type").locator("option").allTextContents();
        expect(options.length > 1, "no event types offered");
        await admin.getByLabel("Event type").selectOption(options[1]);
        await admin.waitForFunction((ev) => [...document.querySelectorAll("tbody tr td:nth-child(2)")].every((td) => td.textContent === ev), options[1]);
        await shot(admin, "audit");
        await checkA11y(admin, "audit");
      }],
      ["rules: create, reject bad input on the field, reorder, delete; packet-service enforces each version", async () => {
        await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Rules" }).click();
        const addRule = async (fields) => {
          await admin.getByRole("button", { name: "New rule" }).click();
          const dialog = admin.getByRole("dialog", { name: "New rule" });
          await dialog.getByLabel("Name").fill(fields.name);
          await dialog.getByLabel("Action").selectOption(fields.action);
          await dialog.getByLabel("Protocol").fill(fields.protocol);
          await dialog.getByLabel("Destination CIDRs").fill(fields.dst);
          if (fields.dstPorts) await dialog.getByLabel("Destination ports").fill(fields.dstPorts);
          if (fields.src) await dialog.getByLabel("Source CIDRs").fill(fields.src);
          await dialog.getByRole("button", { name: "Save rule" }).click();
          return dialog;
        };
        const bad = await addRule({ name: "broken", action: "drop", protocol: "udp", dst: "10.9.9.9/32", src: "10.0.0.300/8" });
        await bad.getByLabel("Source CIDRs").and(admin.locator("[aria-invalid=true]")).waitFor();
        await shot(admin, "rules-validation");
        await bad.getByRole("button", { name: "Cancel" }).click();
        await addRule({ name: "allow-dns", action: "allow", protocol: "udp", dst: "10.9.9.9/32", dstPorts: "53" });
        await admin.getByRole("cell", { name: "allow-dns", exact: true }).waitFor();
        await addRule({ name: "drop-host", action: "drop", protocol: "any", dst: "10.9.9.9/32" });
        await admin.getByRole("cell", { name: "drop-host", exact: true }).waitFor();
        await expectVerdict("10.9.9.9", 53, "allow");
        await admin.getByRole("button", { name: "Move drop-host up" }).click();
        await admin.waitForFunction(() => document.querySelector("[data-testid=rule-row] td:nth-child(2)")?.textContent?.startsWith("drop-host"));
        await expectVerdict("10.9.9.9", 53, "drop");
        await shot(admin, "rules");
        await checkA11y(admin, "rules");
        await admin.getByRole("button", { name: "Delete drop-host" }).click();
        await admin.getByRole("dialog", { name: "Delete rule" }).getByRole("button", { name: "Delete" }).click();
        await admin.getByRole("cell", { name: "drop-host", exact: true }).waitFor({ state: "detached" });
        await expectVerdict("10.9.9.9", 53, "allow");
        await admin.getByRole("tab", { name: "Sync status" }).click();
        await admin.getByTestId("sync-state").filter({ hasText: "in sync" }).waitFor();
        await shot(admin, "rules-status");
        await checkA11y(admin, "rules-status");
      }],
      ["dashboard shows live statistics while traffic flows: rates, charts, range picker, top flows and rule hits", async () => {
        for (let i = 0; i < 5; i++) await classify("10.9.9.9", 53);
        // Steady traffic (200 frames/s) while two viewers watch: each must see a non-zero
        // rate, which the backend takes from packet-service's history, not from its callers.
        const replay = run(trio.py, [join(here, "replay.py"), trio.packetTarget, "10.9.9.9", "53", "40", "200"], {
          env: { ...process.env, PYTHONPATH: join(root, "services", "packet-service"), ROOKERY_TOKEN: packetToken },
        });
        replay.catch(() => {}); // ended by kill() below
        const second = await newPage();
        try {
          await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dashboard" }).click();
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
          expect((await admin.locator(".uplot canvas").count()) >= 2, "the charts were not drawn");
          await admin.getByRole("list", { name: "Packets per second by verdict legend" }).getByText("malformed").waitFor();
          const box = await chart.boundingBox();
          await admin.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2);
          await admin.getByTestId("chart-tooltip").filter({ hasText: "allow:" }).waitFor();
          await admin.locator("section", { hasText: "Rule hits" }).getByText("allow-dns").waitFor();
          await admin.getByTestId("hits-since").filter({ hasText: /^since rule set v\d+/ }).waitFor();
          await shot(admin, "dashboard-live");
          await checkA11y(admin, "dashboard-live");
          // Another range: the server answers it (3600 s / 300 points = 12 s a point).
          const picker = admin.getByRole("radiogroup", { name: "Time range" });
          await picker.getByRole("radio", { name: "1 h" }).click();
          await admin.getByText(/^12 s per point/).waitFor();
          expect((await picker.getByRole("radio", { name: "1 h" }).getAttribute("aria-checked")) === "true", "1 h not selected");
          expect(admin.url().includes("range=1h"), `range not in ${admin.url()}`);
          await shot(admin, "dashboard-1h");
          await admin.getByRole("tab", { name: "Top flows" }).click();
          await admin.getByRole("cell", { name: /10\.9\.9\.9/ }).first().waitFor({ timeout: 20_000 });
          await shot(admin, "dashboard-flows");
          await checkA11y(admin, "dashboard-flows");
        } finally {
          replay.child.kill();
          await second.context().close();
        }
      }],
      ["viewer sees no admin pages, gets a 403 on a deep link, and cannot write rules", async () => {
        const page = await newPage();
        await login(page, web, VIEWER);
        await loggedIn(page);
        const nav = page.getByRole("navigation", { name: "Main" });
        expect((await nav.getByText("Administration").count()) === 0, "viewer sees the Administration section");
        expect((await nav.getByRole("link", { name: "Users" }).count()) === 0, "viewer sees Users");
        await page.goto(`${web}/users`);
        await page.getByRole("heading", { name: /403/ }).waitFor();
        await shot(page, "forbidden");
        await checkA11y(page, "forbidden");
        await page.goto(`${web}/audit`);
        await page.getByRole("heading", { name: /403/ }).waitFor();
        if (hasRules) {
          await page.goto(`${web}/rules`);
          await page.getByText("read-only").waitFor();
          expect((await page.getByRole("button", { name: "New rule" }).count()) === 0, "viewer can add rules");
          expect((await page.getByRole("button", { name: /^Delete / }).count()) === 0, "viewer can delete rules");
        }
        await page.context().close();
      }],
      ["2FA: enrol with the password and the QR secret, sign in with a TOTP code; e-mail change and 2FA off need the password", async () => {
        const page = await newPage();
        await login(page, web, VIEWER);
        await loggedIn(page);
        await page.goto(`${web}/profile`);
        await page.getByRole("tab", { name: "Two-factor" }).click();
        // Enrolment starts with the password: a wrong one is refused on the field.
        await page.getByLabel("Password").fill("not-the-password");
        await page.getByRole("button", { name: "Set up two-factor" }).click();
        await page.getByRole("alert").filter({ hasText: "The password is wrong." }).waitFor();
        await page.getByLabel("Password").fill(VIEWER.password);
        await page.getByRole("button", { name: "Set up two-factor" }).click();
        await page.getByRole("img", { name: "QR code for your authenticator app" }).waitFor();
        const secret = (await page.getByTestId("totp-secret").textContent()).trim();
        const enrolStep = Math.floor(Date.now() / 30_000);
        await page.getByLabel("Code from your app").fill(totp(secret));
        await shot(page, "profile-2fa-setup");
        await checkA11y(page, "profile-2fa-setup");
        await page.getByRole("button", { name: "Turn on two-factor" }).click();
        await page.getByTestId("recovery-codes").waitFor();
        const recoveryCodes = (await page.getByTestId("recovery-codes").locator("li").allTextContents()).map((c) => c.trim());
        expect(recoveryCodes.length > 0, "no recovery codes shown");
        await shot(page, "profile-2fa-enabled");
        await page.getByRole("button", { name: "I have saved them" }).click();
        await logout(page);
        await login(page, web, VIEWER);
        const code = page.getByLabel("Authentication code");
        await code.waitFor();
        await shot(page, "login-totp");
        await checkA11y(page, "login-totp");
        await code.fill("000000");
        await page.getByRole("button", { name: "Verify" }).click();
        await page.getByRole("alert").filter({ hasText: "That code is not valid" }).waitFor();
        // The backend refuses a code twice (replay protection), as an authenticator user
        // would see: wait for the app's next code rather than reuse the enrolment one.
        while (Math.floor(Date.now() / 30_000) <= enrolStep) await sleep(250);
        await code.fill(totp(secret));
        await page.getByRole("button", { name: "Verify" }).click();
        await loggedIn(page);
        // The e-mail changes only with the current password (the old address is mailed).
        await page.goto(`${web}/profile`);
        const newEmail = VIEWER.email.replace("viewer-", "viewer-renamed-");
        await page.getByLabel("Email address").fill(newEmail);
        await page.getByLabel("Current password").fill("not-the-password");
        await page.getByRole("button", { name: "Save email" }).click();
        await page.getByRole("alert").filter({ hasText: "The password is wrong." }).waitFor();
        await page.getByLabel("Current password").fill(VIEWER.password);
        await page.getByRole("button", { name: "Save email" }).click();
        await page.getByRole("status").filter({ hasText: "E-mail updated." }).waitFor();
        VIEWER.email = newEmail;
        await shot(page, "profile-email-changed");
        await checkA11y(page, "profile-email-changed");
        // Turning 2FA off takes the password and a second factor: here a recovery code.
        await page.getByRole("tab", { name: "Two-factor" }).click();
        await page.getByLabel("Password").fill(VIEWER.password);
        await page.getByLabel("Authenticator or recovery code").fill("000000");
        await page.getByRole("button", { name: "Disable two-factor" }).click();
        await page.getByRole("alert").filter({ hasText: "That code is not valid" }).waitFor();
        await shot(page, "profile-2fa-disable");
        await checkA11y(page, "profile-2fa-disable");
        await page.getByLabel("Authenticator or recovery code").fill(recoveryCodes[0]);
        await page.getByRole("button", { name: "Disable two-factor" }).click();
        await page.getByRole("status").filter({ hasText: "Two-factor authentication is off." }).waitFor();
        await page.getByRole("button", { name: "Set up two-factor" }).waitFor();
        // Signing in with the new address now needs no code.
        await logout(page);
        await login(page, web, VIEWER);
        await loggedIn(page);
        await page.context().close();
      }],
      ["profile page: tabs and password change", async () => {
        await admin.getByRole("link", { name: "Profile" }).click();
        await admin.getByRole("tab", { name: "Account" }).waitFor();
        await shot(admin, "profile");
        await checkA11y(admin, "profile");
        await admin.getByRole("tab", { name: "Account" }).focus();
        await admin.keyboard.press("ArrowRight");
        expect((await admin.getByRole("tab", { name: "Password" }).getAttribute("aria-selected")) === "true", "arrow key does not move tabs");
        await admin.getByLabel("Current password").fill("definitely-wrong");
        await admin.getByLabel("New password", { exact: true }).fill("Never-Used-Passw0rd!");
        await admin.getByLabel("Repeat new password").fill("Never-Used-Passw0rd!");
        await admin.getByRole("button", { name: "Change password" }).click();
        await admin.getByRole("alert").filter({ hasText: "current password" }).first().waitFor();
      }],
      ["profile sessions: list, sign out another session, all others, then this one", async () => {
        const other = await newPage();
        await login(other, web, ADMIN);
        await loggedIn(other);
        // A script's sign-in too, recognisable by its User-Agent.
        const script = await fetch(`${web}/api/v1/auth/login`, {
          method: "POST", headers: { "content-type": "application/json", "user-agent": "e2e-script/1" }, body: JSON.stringify(ADMIN),
        });
        expect(script.status === 200, `script login answered ${script.status}`);
        await admin.getByRole("link", { name: "Profile" }).click();
        await admin.getByRole("tab", { name: "Sessions" }).click();
        const rows = admin.getByTestId("session-row");
        await rows.first().waitFor();
        const before = await rows.count();
        expect(before >= 3, `${before} session(s) listed, expected this one, the other browser's and the script's`);
        expect((await rows.filter({ hasText: "this session" }).count()) === 1, "not exactly one row is marked 'this session'");
        expect((await rows.filter({ hasText: "127.0.0.1" }).count()) >= 1, "no row shows the loopback address");
        await shot(admin, "profile-sessions");
        await checkA11y(admin, "profile-sessions");
        await rows.filter({ hasText: "e2e-script/1" }).getByRole("button", { name: "Sign out" }).click();
        await admin.getByRole("status").filter({ hasText: /^Signed out / }).waitFor();
        await admin.waitForFunction((n) => document.querySelectorAll("[data-testid=session-row]").length === n, before - 1);
        await admin.getByRole("button", { name: "Sign out all other sessions" }).click();
        const dialog = admin.getByRole("dialog", { name: "Sign out all other sessions" });
        await checkA11y(admin, "profile-sessions-confirm");
        await dialog.getByRole("button", { name: "Sign out others" }).click();
        await admin.getByRole("status").filter({ hasText: /Signed out \d+ other session/ }).waitFor();
        await admin.waitForFunction(() => document.querySelectorAll("[data-testid=session-row]").length === 1);
        // The other browser's session is gone: its next request lands on the login page.
        await other.reload();
        await other.getByRole("button", { name: "Sign in" }).waitFor();
        // Signing out this session from the list is a logout.
        await login(other, web, ADMIN);
        await loggedIn(other);
        await other.goto(`${web}/profile`);
        await other.getByRole("tab", { name: "Sessions" }).click();
        await other.getByTestId("session-row").filter({ hasText: "this session" }).getByRole("button", { name: "Sign out" }).click();
        await other.waitForURL(/\/login$/);
        await other.getByRole("button", { name: "Sign in" }).waitFor();
        await other.context().close();
        // The admin's own session survived all of it.
        await admin.getByRole("tab", { name: "Account" }).click();
        await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
        await admin.getByRole("cell", { name: ADMIN.email, exact: true }).waitFor();
      }],
      ["an expired access token is refreshed silently, and a reload keeps the session", async () => {
        const page = await newPage();
        const refreshes = [];
        page.on("response", (r) => { if (r.url().endsWith("/api/v1/auth/refresh")) refreshes.push(r.status()); });
        await login(page, web, ADMIN);
        await loggedIn(page);
        const before = refreshes.length;
        // Tokens live in memory and in the httpOnly cookie only: nothing script-readable.
        const stored = await page.evaluate(() => ({ ls: localStorage.length, ss: sessionStorage.length, cookie: document.cookie }));
        expect(stored.ls === 0 && stored.ss === 0, `web storage holds ${stored.ls + stored.ss} item(s)`);
        expect(!stored.cookie.includes("rookery_refresh"), "the refresh cookie is readable from script");
        const jar = await page.context().cookies();
        const refreshCookie = jar.find((c) => c.name === "rookery_refresh");
        expect(refreshCookie?.httpOnly && refreshCookie.sameSite === "Strict", `refresh cookie: ${JSON.stringify(refreshCookie)}`);
        await sleep((ACCESS_TTL + 2) * 1000);
        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
        await page.getByRole("cell", { name: ADMIN.email, exact: true }).waitFor();
        expect(refreshes.slice(before).includes(200), `no successful refresh after expiry (saw ${JSON.stringify(refreshes)})`);
        expect((await page.getByRole("alert").count()) === 0, "an error was shown");
        await page.reload();
        await page.getByRole("cell", { name: ADMIN.email, exact: true }).waitFor();
        expect(page.url().endsWith("/users"), "reload lost the session");
        await page.context().close();
      }],
      ["without 'remember me' no refresh cookie is set and a reload asks to sign in again", async () => {
        const page = await newPage();
        await login(page, web, ADMIN, { remember: false });
        await loggedIn(page);
        const jar = await page.context().cookies();
        expect(!jar.some((c) => c.name === "rookery_refresh"), "a refresh cookie was set");
        await page.reload();
        await page.getByRole("button", { name: "Sign in" }).waitFor();
        await page.context().close();
      }],
      ["logout, then the Back button shows the login page", async () => {
        await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
        await admin.getByRole("heading", { name: "Users" }).waitFor();
        await logout(admin);
        await admin.goBack();
        await admin.getByRole("button", { name: "Sign in" }).waitFor();
        expect(admin.url().endsWith("/login"), `back went to ${admin.url()}`);
        await admin.reload();
        await admin.getByRole("button", { name: "Sign in" }).waitFor();
      }],
      ["phone width: the sidebar folds into a menu", async () => {
        const page = await newPage({ width: 390, height: 844 });
        await page.goto(`${web}/login`);
        await shot(page, "login-phone");
        await login(page, web, ADMIN);
        await page.getByRole("button", { name: "Open menu" }).waitFor();
        await page.getByRole("heading", { name: "Dashboard" }).waitFor();
        expect(!(await page.getByRole("navigation", { name: "Main" }).isVisible()), "sidebar visible on a phone");
        await shot(page, "dashboard-phone");
        await checkA11y(page, "dashboard-phone");
        await page.getByRole("button", { name: "Open menu" }).click();
        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
        await page.getByRole("heading", { name: "Users" }).waitFor();
        await shot(page, "users-phone");
        await page.context().close();
      }],
      ...adminUxScenarios({ web, ADMIN, newPage, login, loggedIn, checkA11y, shot, expect, Skip, hasRules, trio, apiToken }),
      ...accountUxScenarios({ web, ADMIN, accessTtl: ACCESS_TTL, newPage, login, loggedIn, checkA11y, shot, expect, trio, apiToken }),
      ["no page broke the Content-Security-Policy or threw an uncaught exception", async () => {
        expect(browserProblems.length === 0, browserProblems.slice(0, 5).join("\n"));
      }],
    ];

    const only = process.env.E2E_ONLY;
    for (const [name, fn] of scenarios) {
      // E2E_ONLY="a,b": scenarios whose name contains a or b (plus the admin login they build on).
      if (only && !only.split(",").some((o) => name.includes(o)) && !name.startsWith("admin logs in")) continue;
      const t0 = Date.now();
      try {
        await fn();
        results.push({ name, status: "passed" });
        console.log(`  ✓ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (err) {
        if (err instanceof Skip) {
          results.push({ name, status: "skipped", reason: err.message });
          console.log(`  - ${name}: ${err.message}`);
        } else {
          results.push({ name, status: "failed", reason: err.message });
          console.log(`  ✗ ${name}: ${err.message.split("\n").slice(0, 6).join("\n    ")}`);
          for (const [tag, pg] of [["admin", admin], ["last", lastPage]]) {
            try {
              await pg?.screenshot({ path: join(shotDir, `FAILED-${results.length}-${tag}.png`) });
              const alerts = await pg?.getByRole("alert").allTextContents();
              if (alerts?.length) console.log(`    alerts on the ${tag} page: ${alerts.join(" | ")}`);
            } catch { /* page already closed */ }
          }
        }
      }
    }
  } catch (err) {
    console.error(`[e2e] harness error: ${err.stack ?? err}`);
    // The services' own words are the quickest way to see why one did not come up.
    for (const name of ["packet-service", "flask-backend", "webui"]) {
      try {
        const lines = readFileSync(join(shotDir, "logs", `${name}.log`), "utf8").trim().split("\n").slice(-15);
        console.error(`--- ${name}.log (last lines)\n${lines.join("\n")}`);
      } catch { /* that service was not started */ }
    }
    results.push({ name: "harness", status: "failed", reason: String(err.message ?? err) });
  } finally {
    await browser?.close().catch(() => {});
    await trio?.stop();
  }
  const count = (s) => results.filter((r) => r.status === s).length;
  const summary = {
    tests: results.length, passed: count("passed"), failed: count("failed"), skipped: count("skipped"),
    seconds: Math.round((Date.now() - started) / 1000), results, axe: axeFindings,
  };
  writeFileSync(join(webuiDir, "test-results", "e2e.json"), JSON.stringify(summary, null, 2));
  writeFileSync(join(shotDir, "axe.json"), JSON.stringify(axeFindings, null, 2));
  console.log(`e2e: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  process.exit(summary.failed > 0 || summary.passed === 0 ? 1 : 0);
}

main();
