// Browser scenarios for the account pages: users (view in the URL across reload and Back, a
// new user shown where it lands, CSV export of the filtered list), the API key shown once
// (Escape and a click outside keep it), recovery codes acknowledged, the login page naming a
// session that ran out, and the forgot-password page saying nothing of the mail set-up.
// run.js runs them with its own helpers (passed in), against the same trio.
import { readFileSync } from "node:fs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function accountUxScenarios({ web, ADMIN, accessTtl, newPage, login, loggedIn, checkA11y, shot, expect, trio, apiToken }) {
  return [
    ["users: sort, page size and filters survive reload and Back; a new user is shown where it lands; CSV export follows the filters", async () => {
      const page = await newPage();
      await login(page, web, ADMIN);
      await loggedIn(page);
      await page.goto(`${web}/users?per=10&sort=-email`);
      await page.getByTestId("user-row").first().waitFor();
      // Enough users for a second page (made through the API); the last one through the dialog.
      const stamp = Date.now();
      const token = await apiToken();
      for (let i = 0; i < 10; i++) {
        const res = await fetch(`${trio.backendUrl}/api/v1/users`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({ email: `bulk-${stamp}-${i}@rookery.local`, password: "Bulk-e2e-Passw0rd!", roles: ["viewer"] }),
        });
        expect(res.status === 201, `creating a user answered ${res.status}`);
      }
      await page.reload();
      await page.getByTestId("user-row").first().waitFor();
      expect((await page.getByLabel("Rows per page").inputValue()) === "10", "page size lost on reload");
      expect((await page.getByRole("columnheader", { name: /Email/ }).getAttribute("aria-sort")) === "descending", "sort lost on reload");
      // "aaa-…" sorts last in descending order: the table turns to its page and marks it.
      const created = `aaa-${stamp}@rookery.local`;
      await page.getByRole("button", { name: "New user" }).click();
      const dialog = page.getByRole("dialog", { name: "Create user" });
      await dialog.getByLabel("Email").fill(created);
      await dialog.getByLabel("Initial password").fill("Created-e2e-Passw0rd!");
      await dialog.getByRole("button", { name: "Create user" }).click();
      await page.getByText(`User “${created}” created`).waitFor();
      const row = page.locator("tr.row-highlight", { hasText: created });
      await row.waitFor();
      expect(/[?&]page=([2-9]|\d\d)/.test(page.url()), `not on the new user's page: ${page.url()}`);
      expect(await row.getByRole("button", { name: `Edit ${created}` }).evaluate((b) => b === document.activeElement), "the new user's row is not focused");
      await shot(page, "users-created-shown");
      // Filters into the URL; Back returns to the unfiltered view.
      await page.getByLabel("Status").selectOption("inactive");
      await page.waitForURL(/status=inactive/);
      await page.goBack();
      await page.waitForURL((u) => !u.search.includes("status="));
      expect((await page.getByLabel("Status").inputValue()) === "", "Back did not restore the filter");
      await page.getByLabel("Search by email").fill(`bulk-${stamp}`);
      await page.waitForURL(/q=bulk/);
      await page.waitForFunction((text) => {
        const rows = [...document.querySelectorAll("[data-testid=user-row]")];
        return rows.length === 10 && rows.every((r) => r.textContent.includes(text));
      }, `bulk-${stamp}`);
      const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
      const lines = readFileSync(await download.path(), "utf8").trim().split(/\r?\n/);
      expect(lines[0].startsWith("id,email,active,roles"), `CSV header: ${lines[0]}`);
      expect(lines.length === 11 && lines.slice(1).every((l) => l.includes(`bulk-${stamp}`)), `CSV ignores the filter: ${lines.length - 1} rows: ${lines.slice(0, 4).join(" / ")}`);
      await checkA11y(page, "users-filtered");
      await page.context().close();
    }],

    ["API key shown once: Escape and a click outside keep the secret on screen; only “I have copied it” closes it", async () => {
      const page = await newPage();
      await login(page, web, ADMIN);
      await loggedIn(page);
      await page.goto(`${web}/api-keys`);
      await page.getByRole("button", { name: "New API key" }).click();
      const create = page.getByRole("dialog", { name: "Create API key" });
      await create.getByLabel("Name").fill("shown-once-e2e");
      await create.getByRole("checkbox", { name: /stats:read/ }).check();
      await create.getByRole("button", { name: "Create key" }).click();
      const reveal = page.getByRole("dialog", { name: "Your new API key" });
      const secret = await reveal.getByTestId("new-api-key").inputValue();
      await page.keyboard.press("Escape");
      await sleep(200);
      await page.keyboard.press("Escape"); // Chromium lets a second Escape force a close
      await sleep(200);
      await page.mouse.click(5, 5); // the backdrop
      await sleep(200);
      expect(await reveal.isVisible(), "the dialog with the secret closed");
      expect((await reveal.getByTestId("new-api-key").inputValue()) === secret, "the secret changed");
      await checkA11y(page, "apikey-shown-once");
      await reveal.getByRole("button", { name: "I have copied it" }).click();
      await reveal.waitFor({ state: "detached" });
      // Told once the secret is put away, on the key's own row (marked and focused).
      await page.getByText("API key “shown-once-e2e” created").waitFor();
      await page.locator("tr.row-highlight", { hasText: "shown-once-e2e" }).waitFor();
      await page.getByRole("button", { name: "Revoke shown-once-e2e" }).click();
      await page.getByRole("dialog", { name: "Revoke API key" }).getByRole("button", { name: "Revoke" }).click();
      await page.getByText("API key “shown-once-e2e” revoked").waitFor();
      await page.getByLabel("Filter keys").fill("shown-once");
      const empty = page.getByTestId("keys-empty");
      await empty.waitFor();
      const text = await empty.textContent();
      expect(!text.includes("No API keys yet") && text.includes("revoked key"), `empty table says: ${text}`);
      await page.context().close();
    }],

    ["a session that runs out returns to the login page saying so", async () => {
      const page = await newPage();
      await login(page, web, ADMIN);
      await loggedIn(page);
      await page.context().clearCookies(); // the refresh cookie is gone: the next refresh fails
      await sleep((accessTtl + 1) * 1000);
      // A page's own polling may hit the expiry first; otherwise moving to another page does.
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click({ timeout: 2000 }).catch(() => {});
      await page.waitForURL(/\/login$/);
      await page.getByText("Your session ended; sign in again.").waitFor();
      await shot(page, "login-session-ended");
      await checkA11y(page, "login-session-ended");
      await page.context().close();
      // A visitor who simply opens the login page is told nothing of the kind.
      const fresh = await newPage();
      await fresh.goto(`${web}/users`);
      await fresh.getByRole("button", { name: "Sign in" }).waitFor();
      expect((await fresh.getByText("Your session ended").count()) === 0, "a first visit is told the session ended");
      await fresh.context().close();
    }],

    ["forgot password: an anonymous visitor learns nothing about the server's mail set-up", async () => {
      const page = await newPage();
      await page.goto(`${web}/forgot-password`);
      await page.getByLabel("Email").fill(ADMIN.email);
      await page.getByRole("button", { name: "Send reset link" }).click();
      await page.getByText("If an account exists for that address").waitFor();
      const text = await page.locator("main").textContent();
      expect(!/mail server|configured|server log/i.test(text), `the page tells: ${text}`);
      await page.context().close();
    }],
  ];
}
