// The browser end-to-end run: @playwright/test driving Debian's Chromium (never a downloaded
// browser) against the real trio, which e2e/global-setup.js starts once for the whole run.
// The scenarios share that trio (and the admin's sessions: one signs out all the others), so
// they run one at a time, in one worker.
import { defineConfig } from "@playwright/test";
import { join } from "node:path";
import { shotDir } from "./e2e/paths.js";

export default defineConfig({
  testDir: "e2e",
  globalSetup: "./e2e/global-setup.js",
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: true,
  // Each scenario waits on real services (the dashboard's replay, a TOTP step, token expiry).
  timeout: 180_000,
  expect: { timeout: 15_000 },
  globalTimeout: 30 * 60_000,
  outputDir: join(shotDir, "failures"),
  reporter: [["list"], ["./e2e/reporter.js"]],
  use: {
    browserName: "chromium",
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROME_PATH || "/usr/bin/chromium",
      args: [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync",
      ],
    },
    viewport: { width: 1280, height: 860 },
    reducedMotion: "reduce",
    actionTimeout: 15_000,
    navigationTimeout: 15_000,
    screenshot: { mode: "only-on-failure", fullPage: true },
    trace: "off",
    video: "off",
  },
});
