// The profile: two-factor enrolment and sign-in with a TOTP code, e-mail change and 2FA off
// behind the password, the tabs and the password form, and the sessions list.
import { ADMIN, expect, loggedIn, login, logout, navLink, shot, sleep, test } from "./fixtures.js";
import { totp } from "./totp.js";

test("2FA: enrol with the password and the QR secret, sign in with a TOTP code; e-mail change and 2FA off need the password", async ({ page, web, viewer, checkA11y }) => {
  await login(page, web, viewer);
  await loggedIn(page);
  await page.goto(`${web}/profile`);
  await page.getByRole("tab", { name: "Two-factor" }).click();
  // Enrolment starts with the password: a wrong one is refused on the field.
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Set up two-factor" }).click();
  await page.getByRole("alert").filter({ hasText: "The password is wrong." }).waitFor();
  await page.getByLabel("Password").fill(viewer.password);
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
  expect(recoveryCodes.length, "no recovery codes shown").toBeGreaterThan(0);
  await shot(page, "profile-2fa-enabled");
  await page.getByRole("button", { name: "I have saved them" }).click();
  await logout(page);
  await login(page, web, viewer);
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
  const newEmail = viewer.email.replace("viewer-", "viewer-renamed-");
  await page.getByLabel("Email address").fill(newEmail);
  await page.getByLabel("Current password").fill("not-the-password");
  await page.getByRole("button", { name: "Save email" }).click();
  await page.getByRole("alert").filter({ hasText: "The password is wrong." }).waitFor();
  await page.getByLabel("Current password").fill(viewer.password);
  await page.getByRole("button", { name: "Save email" }).click();
  await page.getByRole("status").filter({ hasText: "E-mail updated." }).waitFor();
  viewer.email = newEmail;
  await shot(page, "profile-email-changed");
  await checkA11y(page, "profile-email-changed");
  // Turning 2FA off takes the password and a second factor: here a recovery code.
  await page.getByRole("tab", { name: "Two-factor" }).click();
  await page.getByLabel("Password").fill(viewer.password);
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
  await login(page, web, viewer);
  await loggedIn(page);
});

test("profile page: tabs and password change", async ({ adminPage: admin, checkA11y }) => {
  await admin.getByRole("link", { name: "Profile" }).click();
  await admin.getByRole("tab", { name: "Account" }).waitFor();
  await shot(admin, "profile");
  await checkA11y(admin, "profile");
  await admin.getByRole("tab", { name: "Account" }).focus();
  await admin.keyboard.press("ArrowRight");
  expect(await admin.getByRole("tab", { name: "Password" }).getAttribute("aria-selected"), "arrow key does not move tabs").toBe("true");
  await admin.getByLabel("Current password").fill("definitely-wrong");
  await admin.getByLabel("New password", { exact: true }).fill("Never-Used-Passw0rd!");
  await admin.getByLabel("Repeat new password").fill("Never-Used-Passw0rd!");
  await admin.getByRole("button", { name: "Change password" }).click();
  await admin.getByRole("alert").filter({ hasText: "current password" }).first().waitFor();
});

test("profile sessions: list, sign out another session, all others, then this one", async ({ adminPage: admin, web, newPage, checkA11y }) => {
  const other = await newPage();
  await login(other, web, ADMIN);
  await loggedIn(other);
  // A script's sign-in too, recognisable by its User-Agent.
  const script = await fetch(`${web}/api/v1/auth/login`, {
    method: "POST", headers: { "content-type": "application/json", "user-agent": "e2e-script/1" }, body: JSON.stringify(ADMIN),
  });
  expect(script.status, `script login answered ${script.status}`).toBe(200);
  await admin.getByRole("link", { name: "Profile" }).click();
  await admin.getByRole("tab", { name: "Sessions" }).click();
  const rows = admin.getByTestId("session-row");
  await rows.first().waitFor();
  const before = await rows.count();
  expect(before, `${before} session(s) listed, expected this one, the other browser's and the script's`).toBeGreaterThanOrEqual(3);
  expect(await rows.filter({ hasText: "this session" }).count(), "not exactly one row is marked 'this session'").toBe(1);
  expect(await rows.filter({ hasText: "127.0.0.1" }).count(), "no row shows the loopback address").toBeGreaterThanOrEqual(1);
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
  // The admin's own session survived all of it.
  await admin.getByRole("tab", { name: "Account" }).click();
  await navLink(admin, "Users").click();
  await admin.getByRole("cell", { name: ADMIN.email, exact: true }).waitFor();
});
