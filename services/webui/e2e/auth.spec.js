// Signing in and out: the login, forgot and reset pages, token refresh and "remember me",
// logout and Back, a session that runs out, and what a viewer may not reach.
import { ADMIN, expect, loggedIn, login, logout, navLink, shot, sleep, test } from "./fixtures.js";

test("bad login shows an error; the login page is accessible", async ({ page, web, checkA11y }) => {
  await page.goto(`${web}/login`);
  expect(await page.getByLabel("Email").inputValue(), "email is pre-filled").toBe("");
  expect(await page.getByLabel("Password").getAttribute("type"), "password not masked").toBe("password");
  await shot(page, "login");
  await checkA11y(page, "login");
  await login(page, web, { email: ADMIN.email, password: "wrong-password" });
  await page.getByRole("alert").filter({ hasText: "Email or password is incorrect." }).waitFor();
  await shot(page, "login-error");
});

test("forgot-password request and reset pages work against the backend", async ({ page, web, checkA11y }) => {
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
});

test("forgot password: an anonymous visitor learns nothing about the server's mail set-up", async ({ page, web }) => {
  await page.goto(`${web}/forgot-password`);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByRole("button", { name: "Send reset link" }).click();
  await page.getByText("If an account exists for that address").waitFor();
  const text = await page.locator("main").textContent();
  expect(text, `the page tells: ${text}`).not.toMatch(/mail server|configured|server log/i);
});

test("an expired access token is refreshed silently, and a reload keeps the session", async ({ page, web, trio }) => {
  const refreshes = [];
  page.on("response", (r) => { if (r.url().endsWith("/api/v1/auth/refresh")) refreshes.push(r.status()); });
  await login(page, web, ADMIN);
  await loggedIn(page);
  const before = refreshes.length;
  // Tokens live in memory and in the httpOnly cookie only: nothing script-readable.
  const stored = await page.evaluate(() => ({ ls: localStorage.length, ss: sessionStorage.length, cookie: document.cookie }));
  expect(stored.ls + stored.ss, `web storage holds ${stored.ls + stored.ss} item(s)`).toBe(0);
  expect(stored.cookie, "the refresh cookie is readable from script").not.toContain("rookery_refresh");
  const jar = await page.context().cookies();
  const refreshCookie = jar.find((c) => c.name === "rookery_refresh");
  expect(refreshCookie?.httpOnly && refreshCookie.sameSite === "Strict", `refresh cookie: ${JSON.stringify(refreshCookie)}`).toBe(true);
  // The backend's own clock: its access tokens live ACCESS_TOKEN_TTL seconds (set short by global setup).
  await sleep((trio.accessTtl + 2) * 1000);
  await navLink(page, "Users").click();
  await page.getByRole("cell", { name: ADMIN.email, exact: true }).waitFor();
  expect(refreshes.slice(before), `no successful refresh after expiry (saw ${JSON.stringify(refreshes)})`).toContain(200);
  expect(await page.getByRole("alert").count(), "an error was shown").toBe(0);
  await page.reload();
  await page.getByRole("cell", { name: ADMIN.email, exact: true }).waitFor();
  expect(page.url().endsWith("/users"), "reload lost the session").toBe(true);
});

test("without 'remember me' no refresh cookie is set and a reload asks to sign in again", async ({ page, web }) => {
  await login(page, web, ADMIN, { remember: false });
  await loggedIn(page);
  const jar = await page.context().cookies();
  expect(jar.some((c) => c.name === "rookery_refresh"), "a refresh cookie was set").toBe(false);
  await page.reload();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
});

test("a session that runs out returns to the login page saying so", async ({ page, web, trio, newPage, checkA11y }) => {
  await login(page, web, ADMIN);
  await loggedIn(page);
  await page.context().clearCookies(); // the refresh cookie is gone: the next refresh fails
  await sleep((trio.accessTtl + 1) * 1000);
  // A page's own polling may hit the expiry first; otherwise moving to another page does.
  await navLink(page, "Users").click({ timeout: 2000 }).catch(() => {});
  await page.waitForURL(/\/login$/);
  await page.getByText("Your session ended; sign in again.").waitFor();
  await shot(page, "login-session-ended");
  await checkA11y(page, "login-session-ended");
  // A visitor who simply opens the login page is told nothing of the kind.
  const fresh = await newPage();
  await fresh.goto(`${web}/users`);
  await fresh.getByRole("button", { name: "Sign in" }).waitFor();
  expect(await fresh.getByText("Your session ended").count(), "a first visit is told the session ended").toBe(0);
});

test("logout, then the Back button shows the login page", async ({ adminPage: admin }) => {
  await navLink(admin, "Users").click();
  await admin.getByRole("heading", { name: "Users" }).waitFor();
  await logout(admin);
  await admin.goBack();
  await admin.getByRole("button", { name: "Sign in" }).waitFor();
  expect(admin.url().endsWith("/login"), `back went to ${admin.url()}`).toBe(true);
  await admin.reload();
  await admin.getByRole("button", { name: "Sign in" }).waitFor();
});

test("viewer sees no admin pages, gets a 403 on a deep link, and cannot write rules", async ({ page, web, viewer, checkA11y }) => {
  await login(page, web, viewer);
  await loggedIn(page);
  const nav = page.getByRole("navigation", { name: "Main" });
  expect(await nav.getByText("Administration").count(), "viewer sees the Administration section").toBe(0);
  expect(await nav.getByRole("link", { name: "Users" }).count(), "viewer sees Users").toBe(0);
  await page.goto(`${web}/users`);
  await page.getByRole("heading", { name: /403/ }).waitFor();
  await shot(page, "forbidden");
  await checkA11y(page, "forbidden");
  await page.goto(`${web}/audit`);
  await page.getByRole("heading", { name: /403/ }).waitFor();
  await page.goto(`${web}/rules`);
  await page.getByText("read-only").waitFor();
  expect(await page.getByRole("button", { name: "New rule" }).count(), "viewer can add rules").toBe(0);
  expect(await page.getByRole("button", { name: /^Delete / }).count(), "viewer can delete rules").toBe(0);
});
