// Shared fixtures and helpers for the browser specs.
//
// Every test gets the built-in `page` (1280×860, reduced motion) and `newPage(viewport)` for
// more browsers; both are watched: a Content-Security-Policy violation or an uncaught page
// error on any of them fails the test, and when the test passed, axe-core runs over every page
// still open (serious or critical findings fail it). Tests call `checkA11y(page, name)` for the
// states in between (dialogs, error messages). A failed test leaves a screenshot of each open
// page and the alerts they show.
import { test as base, expect } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { ADMIN } from "./harness.js";
import { here, root, shotDir } from "./paths.js";

export { ADMIN, expect };

export const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 860 };
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
const run = promisify(execFile);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A full-page screenshot of a key page into artifacts/webui/<name>.png. */
export async function shot(page, name) {
  await page.screenshot({ path: join(shotDir, `${name}.png`), fullPage: true });
}

export async function login(page, web, { email, password }, { remember = true } = {}) {
  await page.goto(`${web}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  const box = page.getByLabel("Remember me");
  if ((await box.isChecked()) !== remember) await box.click();
  await page.getByRole("button", { name: "Sign in" }).click();
}

export async function loggedIn(page) {
  await page.getByRole("navigation", { name: "Main" }).waitFor({ timeout: 15_000 });
}

export async function logout(page) {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/\/login$/);
}

/** The main navigation's link to one section. */
export const navLink = (page, name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name });

/** axe-core over the page as it stands; the findings are attached to the test (the reporter gathers them). */
async function axe(page, name, testInfo) {
  const result = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  const finding = { page: name, violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })) };
  await testInfo.attach("axe", { body: JSON.stringify([finding]), contentType: "application/json" });
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

const describeAxe = (name, bad) =>
  `axe on ${name}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`).join("; ")}`;

export const test = base.extend({
  /** Where the trio global-setup.js started listens, and the Python that drives packet-service. */
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's needs from this pattern
  trio: [async ({}, use) => {
    const web = process.env.E2E_WEB_URL;
    if (!web) throw new Error("E2E_WEB_URL is not set: run the specs through `npx playwright test` (global-setup.js starts the trio)");
    await use({
      web,
      backendUrl: process.env.E2E_BACKEND_URL,
      packetTarget: process.env.E2E_PACKET_TARGET,
      py: process.env.E2E_PY,
      accessTtl: Number(process.env.E2E_ACCESS_TTL),
    });
  }, { scope: "worker" }],

  web: async ({ trio }, use) => use(trio.web),

  /** The browser watch (see the top of this file); its teardown runs before any page closes. */
  watch: [async ({ page, browser }, use, testInfo) => {
    const problems = [];
    const pages = [];
    const contexts = [];
    const track = (p) => {
      p.on("console", (msg) => {
        if (/Content[- ]Security[- ]Policy/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
      });
      p.on("pageerror", (err) => problems.push(`uncaught: ${err.message}`));
      pages.push(p);
    };
    track(page);
    const newPage = async (viewport = DESKTOP) => {
      const ctx = await browser.newContext({ viewport, reducedMotion: "reduce" });
      contexts.push(ctx);
      const p = await ctx.newPage();
      track(p);
      return p;
    };
    await use({ problems, newPage });

    const open = pages.filter((p) => !p.isClosed() && p.url().startsWith("http"));
    if (testInfo.status === testInfo.expectedStatus) {
      for (const [i, p] of open.entries()) {
        const name = `end of "${testInfo.title}"${open.length > 1 ? ` (page ${i + 1})` : ""}`;
        const bad = await axe(p, name, testInfo);
        if (bad.length) throw new Error(describeAxe(name, bad));
      }
    } else {
      const slug = testInfo.title.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
      for (const [i, p] of open.entries()) {
        try {
          await p.screenshot({ path: join(shotDir, `FAILED-${slug}-${i + 1}.png`) });
          const alerts = await p.getByRole("alert").allTextContents();
          if (alerts.length) console.log(`    alerts on page ${i + 1} (${p.url()}): ${alerts.join(" | ")}`);
        } catch { /* the page went away meanwhile */ }
      }
    }
    for (const ctx of contexts) await ctx.close().catch(() => {});
    expect(problems, "no Content-Security-Policy violation or uncaught page error").toEqual([]);
  }, { auto: true }],

  /** Another browser (its own context: cookies, session) at the given viewport. */
  newPage: async ({ watch }, use) => use(watch.newPage),

  /** axe-core over a page now: serious or critical violations fail the test. */
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's needs from this pattern
  checkA11y: async ({}, use, testInfo) => {
    await use(async (page, name) => {
      const bad = await axe(page, name, testInfo);
      if (bad.length) throw new Error(describeAxe(name, bad));
    });
  },

  /** REST and gRPC calls made outside the browser: admin tokens, users, packet-service verdicts. */
  api: async ({ trio }, use) => {
    const token = async () => {
      // A fresh admin access token each time: they live only ACCESS_TTL seconds.
      const res = await fetch(`${trio.backendUrl}/api/v1/auth/login`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(ADMIN),
      });
      return (await res.json()).data?.access_token;
    };
    const call = async (method, path, body) => {
      const res = await fetch(`${trio.backendUrl}${path}`, {
        method,
        headers: { "content-type": "application/json", authorization: `Bearer ${await token()}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json().catch(() => null) };
    };
    let packetToken = "";
    /** A packets:write API key, as packet-service asks its callers to authenticate. */
    const packetKey = async () => {
      if (!packetToken) {
        const res = await call("POST", "/api/v1/apikeys", { name: "e2e-classify", scopes: ["packets:write"] });
        packetToken = res.body?.data?.key ?? "";
        if (!packetToken) throw new Error(`creating the packets:write key answered ${res.status}`);
      }
      return packetToken;
    };
    const pyEnv = async () => ({ ...process.env, PYTHONPATH: join(root, "services", "packet-service"), ROOKERY_TOKEN: await packetKey() });
    /** packet-service's verdict on one UDP packet from 192.0.2.10 (e2e/classify.py). */
    const classify = async (dst, port) => {
      const { stdout } = await run(trio.py, [join(here, "classify.py"), trio.packetTarget, "192.0.2.10", dst, String(port)], { env: await pyEnv() });
      return JSON.parse(stdout).verdict;
    };
    const expectVerdict = async (dst, port, want) => {
      let got = null;
      for (let i = 0; i < 40; i++) {
        got = await classify(dst, port);
        if (got === want) return;
        await sleep(250);
      }
      throw new Error(`packet-service verdict for ${dst}:${port} is ${got}, expected ${want}`);
    };
    /** Steady traffic to dst:port (e2e/replay.py); kill the returned child to stop it early. */
    const replay = async (dst, port, seconds, perSecond) => {
      const p = run(trio.py, [join(here, "replay.py"), trio.packetTarget, dst, String(port), String(seconds), String(perSecond)], { env: await pyEnv() });
      p.catch(() => {}); // ended by kill()
      return p.child;
    };
    await use({ token, call, classify, expectVerdict, replay });
  },

  /** A fresh viewer account, made through the API (its e-mail may change during the test). */
  viewer: async ({ api }, use, testInfo) => {
    const viewer = { email: `viewer-${Date.now()}-${testInfo.workerIndex}@rookery.local`, password: "Viewer-e2e-Passw0rd!" };
    const res = await api.call("POST", "/api/v1/users", { ...viewer, roles: ["viewer"] });
    if (res.status !== 201) throw new Error(`creating the viewer answered ${res.status}: ${JSON.stringify(res.body)}`);
    await use(viewer);
  },

  /** The built-in page, signed in as the admin (remember me on). */
  adminPage: async ({ page, web }, use) => {
    await login(page, web, ADMIN);
    await loggedIn(page);
    await use(page);
  },
});
