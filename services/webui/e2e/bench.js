// Benchmark (not a test): the build's JavaScript sizes, and Lighthouse performance and
// accessibility scores for the login page and the dashboard, against the real trio.
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as chromeLauncher from "chrome-launcher";
import puppeteer from "puppeteer-core";
import lighthouse from "lighthouse";
import desktopConfig from "lighthouse/core/config/desktop-config.js";
import { ADMIN, startTrio } from "./harness.js";

const here = dirname(fileURLToPath(import.meta.url));
const webuiDir = resolve(here, "..");
const root = resolve(webuiDir, "..", "..");
const dist = join(webuiDir, "dist");
const BUDGET_KB = 200;
const CHROME_FLAGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--no-first-run", "--disable-sync",
];

const kb = (n) => (n / 1024).toFixed(1);

function jsSizes() {
  const html = readFileSync(join(dist, "index.html"), "utf8");
  // What the browser fetches before first render: the entry script and its modulepreloads.
  const initial = new Set([...html.matchAll(/(?:src|href)="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]));
  const rows = readdirSync(join(dist, "assets"))
    .filter((f) => f.endsWith(".js"))
    .map((f) => {
      const buf = readFileSync(join(dist, "assets", f));
      return { file: f, raw: buf.length, gzip: gzipSync(buf, { level: 9 }).length, initial: initial.has(f) };
    })
    .sort((a, b) => b.gzip - a.gzip);
  console.log("JavaScript in dist/assets (gzip -9):");
  for (const r of rows) console.log(`  ${r.initial ? "initial" : "lazy   "}  ${kb(r.gzip).padStart(7)} KB gzip  ${kb(r.raw).padStart(7)} KB raw  ${r.file}`);
  const initialGzip = rows.filter((r) => r.initial).reduce((s, r) => s + r.gzip, 0);
  const allGzip = rows.reduce((s, r) => s + r.gzip, 0);
  console.log(`initial JS: ${kb(initialGzip)} KB gzip (budget ${BUDGET_KB} KB: ${initialGzip / 1024 <= BUDGET_KB ? "within" : "OVER"}); all JS: ${kb(allGzip)} KB gzip`);
}

async function refreshCookie(webUrl) {
  const res = await fetch(`${webUrl}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...ADMIN, refresh_cookie: true }),
  });
  const cookie = res.headers.get("set-cookie") ?? "";
  const value = /rookery_refresh=([^;]+)/.exec(cookie)?.[1];
  if (!value) throw new Error(`login for the dashboard run gave no refresh cookie (status ${res.status})`);
  return value;
}

async function main() {
  jsSizes();
  const trio = await startTrio({ root, logDir: join(root, "artifacts", "webui", "bench-logs"), accessTtl: 900 });
  const chrome = await chromeLauncher.launch({ chromePath: process.env.CHROME_PATH ?? "/usr/bin/chromium", chromeFlags: CHROME_FLAGS });
  try {
    const browser = await puppeteer.connect({ browserURL: `http://127.0.0.1:${chrome.port}` });
    const pages = [
      { name: "login", path: "/login", signedIn: false },
      { name: "dashboard", path: "/dashboard", signedIn: true },
    ];
    console.log("\nLighthouse (performance / accessibility):");
    for (const preset of ["mobile", "desktop"]) {
      for (const p of pages) {
        await browser.deleteCookie?.(...(await browser.cookies?.() ?? []));
        if (p.signedIn) {
          // The app restores its session from the httpOnly refresh cookie on load.
          await browser.setCookie({
            name: "rookery_refresh", value: await refreshCookie(trio.webUrl), domain: "127.0.0.1",
            path: "/api/v1/auth", httpOnly: true, sameSite: "Strict",
          });
        }
        const flags = { port: chrome.port, logLevel: "error", output: "json", onlyCategories: ["performance", "accessibility"], disableStorageReset: true };
        const result = await lighthouse(`${trio.webUrl}${p.path}`, flags, preset === "desktop" ? desktopConfig : undefined);
        const lhr = result.lhr;
        const score = (c) => Math.round((lhr.categories[c]?.score ?? 0) * 100);
        const landed = lhr.finalDisplayedUrl ?? lhr.finalUrl;
        const shown = (id) => lhr.audits[id]?.displayValue ?? "?";
        const lcp = shown("largest-contentful-paint");
        console.log(`  ${preset.padEnd(7)} ${p.name.padEnd(9)} performance ${String(score("performance")).padStart(3)}  accessibility ${String(score("accessibility")).padStart(3)}  LCP ${lcp}  (${landed})`);
        // What the performance score is made of, so a drop can be traced to its metric.
        console.log(`          FCP ${shown("first-contentful-paint")}  SI ${shown("speed-index")}  TBT ${shown("total-blocking-time")}  CLS ${shown("cumulative-layout-shift")}`);
      }
    }
    await browser.disconnect();
  } finally {
    chrome.kill();
    await trio.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
