// Single sign-on in the browser: a backend of its own in production mode with an enterprise
// licence and OpenID Connect settings, and the test OpenID Provider
// (scripts/oidc-test-provider). The login page offers the provider; people sign in there and
// come back signed in, with the role their groups map to, their account made on the way; the
// failures come back to the login page as plain messages.
//
// The first scenario needs the provider down before anyone has signed on (the backend has not
// read the provider's discovery document yet); the others start it. The scenarios run in file
// order, in one worker (playwright.config.js). The expired-ID-token and wrong-audience
// scenarios each have a stack and a misbehaving provider of their own (a clock an hour behind;
// ID tokens signed for another audience).
import { ADMIN, expect, loggedIn, login, navLink, shot, test as base } from "./fixtures.js";
import {
  CALLBACK_PATH, adminApi, freePort, issueLicense, licenseKeys, scratchDir, startLicensedStack, startProvider,
} from "./licensed-stack.js";

const PROVIDER = "Test IdP";
const PASSWORD = "Idp-e2e-Passw0rd!";
const ALICE = { sub: "u-alice", email: "alice@corp.local", email_verified: true, name: "Alice Admin", groups: ["staff", "rookery-admins"], password: PASSWORD };
const BOB = { sub: "u-bob", email: "bob@corp.local", email_verified: true, name: "Bob Netops", groups: ["netops"], password: PASSWORD };
const CAROL = { sub: "u-carol", email: "carol@corp.local", email_verified: true, name: "Carol", groups: ["netops"], password: PASSWORD };
const EVE = { sub: "u-eve", email: "eve@corp.local", email_verified: false, name: "Eve Unverified", groups: ["netops"], password: PASSWORD };
const DAN = { sub: "u-dan", email: "dan@corp.local", email_verified: true, name: "Dan No Group", groups: ["contractors"], password: PASSWORD };

const CLIENT_ID = "rookery-e2e";
const CLIENT_SECRET = "e2e-client-secret-0123456789";

/**
 * A worker fixture: a stack of its own whose provider misbehaves as `providerOptions` say
 * (startProvider's clockOffset / idTokenAudience). The backend's OIDC_ISSUER names the
 * provider's port, so each such provider needs its own stack.
 */
function misbehavingStack(name, providerOptions) {
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's needs from this pattern
  return [async ({}, use) => {
    const scratch = scratchDir(`rookery-${name}-e2e-`);
    let stack;
    let provider;
    try {
      const keys = await licenseKeys(scratch.dir);
      const license = await issueLicense(keys.privateKey, { customer: "SSO Odd Co", tier: "enterprise", days: 365, seats: 50 });
      const oidc = { port: await freePort(), clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, providerName: PROVIDER, roleMap: "netops:maintainer", defaultRole: "" };
      stack = await startLicensedStack({ name, license, publicKey: keys.publicKey, oidc });
      provider = await startProvider({
        port: oidc.port, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET,
        redirectUri: `${stack.webUrl}${CALLBACK_PATH}`, users: [BOB], dir: scratch.dir, logDir: stack.logDir,
        ...providerOptions,
      });
      await use({ ...stack, api: adminApi(stack.backendUrl), issuer: `http://127.0.0.1:${oidc.port}` });
    } finally {
      await provider?.stop();
      await stack?.stop();
      scratch.remove();
    }
  }, { scope: "worker", timeout: 120_000 }];
}

const test = base.extend({
  /** The stack (backend + web UI), and the provider, started on demand by provider(). */
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's needs from this pattern
  sso: [async ({}, use) => {
    const scratch = scratchDir("rookery-sso-e2e-");
    let stack;
    let provider = null;
    try {
      const keys = await licenseKeys(scratch.dir);
      const license = await issueLicense(keys.privateKey, { customer: "SSO Test Co", tier: "enterprise", days: 365, seats: 50 });
      const oidc = {
        port: await freePort(),
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        providerName: PROVIDER,
        roleMap: "rookery-admins:admin,netops:maintainer",
        // Nobody gets in without a mapped group.
        defaultRole: "",
      };
      stack = await startLicensedStack({ name: "sso", license, publicKey: keys.publicKey, oidc });
      const startIt = async () => {
        provider ??= await startProvider({
          port: oidc.port, clientId: oidc.clientId, clientSecret: oidc.clientSecret,
          redirectUri: `${stack.webUrl}${CALLBACK_PATH}`, users: [ALICE, BOB, CAROL, EVE, DAN], dir: scratch.dir, logDir: stack.logDir,
        });
        return provider;
      };
      await use({
        ...stack,
        api: adminApi(stack.backendUrl),
        issuer: `http://127.0.0.1:${oidc.port}`,
        provider: startIt,
        providerStarted: () => provider !== null,
      });
    } finally {
      await provider?.stop();
      await stack?.stop();
      scratch.remove();
    }
  }, { scope: "worker", timeout: 120_000 }],

  /**
   * A second stack with SSO_REQUIRED: only the break-glass admin may use a password. Started
   * by the one scenario that uses it (its provider is never needed: nobody signs on there).
   */
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's needs from this pattern
  ssoRequired: [async ({}, use) => {
    const scratch = scratchDir("rookery-sso-required-e2e-");
    let stack;
    try {
      const keys = await licenseKeys(scratch.dir);
      const license = await issueLicense(keys.privateKey, { customer: "SSO Only Co", tier: "professional", days: 365 });
      stack = await startLicensedStack({
        name: "sso-required", license, publicKey: keys.publicKey,
        oidc: { port: await freePort(), clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, providerName: PROVIDER, roleMap: "netops:maintainer" },
        extraEnv: { SSO_REQUIRED: "true", SSO_BREAK_GLASS_EMAILS: ADMIN.email },
      });
      await use({ ...stack, api: adminApi(stack.backendUrl) });
    } finally {
      await stack?.stop();
      scratch.remove();
    }
  }, { scope: "worker", timeout: 120_000 }],

  /** A provider whose clock is an hour behind: its ID tokens expired 50 minutes before they reach the backend. */
  ssoLateClock: misbehavingStack("sso-late-clock", { clockOffset: -3600 }),

  /** A provider that signs its ID tokens for another audience than the backend's client id. */
  ssoWrongAudience: misbehavingStack("sso-wrong-audience", { idTokenAudience: "another-app" }),

  web: async ({ sso }, use) => use(sso.webUrl),
});

const ssoButton = (page) => page.getByRole("link", { name: `Sign in with ${PROVIDER}` });
const ssoAlert = (page) => page.getByRole("main").getByRole("alert");

/** At the provider's login form (plain HTML: inputs `login` and `password`), signs in as `who`. */
async function signInAtProvider(page, issuer, who) {
  await page.waitForURL((url) => url.href.startsWith(`${issuer}/interaction/`));
  await page.locator('input[name="login"]').fill(who.email);
  await page.locator('input[name="password"]').fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** From the login page through the provider and back, as `who`. */
async function signOn(page, sso, who) {
  await ssoButton(page).click();
  await signInAtProvider(page, sso.issuer, who);
}

async function userByEmail(api, email) {
  const { body } = await api.call("GET", `/api/v1/users?q=${encodeURIComponent(email)}`);
  return (body?.data ?? []).find((u) => u.email === email) ?? null;
}

/** The reasons the backend recorded for refused sign-ons (the audit log, read as the admin). */
async function refusalReasons(api) {
  const { status, body } = await api.call("GET", "/api/v1/audit?event=login_sso_failed&per_page=100");
  expect(status, JSON.stringify(body)).toBe(200);
  return body.data.map((row) => row.details?.reason ?? "");
}

/**
 * Signs on at a misbehaving provider as Bob: back at the login page with the
 * invalid-ID-token message, not signed in, no account made; returns the recorded reasons.
 */
async function signOnRefused(page, stack) {
  await page.goto(`${stack.webUrl}/login`);
  await ssoButton(page).click();
  await signInAtProvider(page, stack.issuer, BOB);
  await page.waitForURL(`${stack.webUrl}/login`);
  await expect(ssoAlert(page)).toHaveText(/^The identity provider's answer could not be verified, so you were not signed in\./);
  await expect(page.getByRole("navigation", { name: "Main" })).toHaveCount(0);
  await expect(page.getByLabel("Password")).toBeVisible();
  expect(await userByEmail(stack.api, BOB.email), "nobody signed in, no account made").toBeNull();
  return refusalReasons(stack.api);
}

test("the provider is down: the login page says single sign-on is unavailable", async ({ page, sso, checkA11y }) => {
  expect(sso.providerStarted(), "this scenario runs before the provider is started").toBe(false);
  await page.goto(`${sso.webUrl}/login`);
  await ssoButton(page).click();
  await expect(ssoAlert(page)).toHaveText(/^The identity provider cannot be reached right now, so single sign-on is unavailable\./);
  // Back on the login page, the code gone from the address; the password form still there.
  await expect(page).toHaveURL(`${sso.webUrl}/login`);
  await expect(page.getByLabel("Password")).toBeVisible();
  await shot(page, "sso-provider-down");
  await checkA11y(page, "login after provider_unavailable");
});

test("an admin-group user signs in at the provider and comes back signed in, as an admin; the account is made on the way", async ({ page, sso, checkA11y }) => {
  await sso.provider();
  expect(await userByEmail(sso.api, ALICE.email), "no account before the first sign-on").toBeNull();

  // Going to the users page, signed out: the login page offers the provider.
  await page.goto(`${sso.webUrl}/users`);
  await page.waitForURL(/\/login$/);
  const button = ssoButton(page);
  await expect(button).toHaveAttribute("href", "/api/v1/auth/sso/login?next=%2Fusers");
  await expect(page.getByRole("button", { name: "Sign in", exact: true })).toBeVisible();
  await shot(page, "login-sso");
  await checkA11y(page, "login with single sign-on");

  // The provider's own login page, then straight back to where Alice was going.
  await button.click();
  await page.waitForURL((url) => url.href.startsWith(`${sso.issuer}/interaction/`));
  await expect(page.getByRole("heading", { name: "Sign in to rookery-e2e" })).toBeVisible();
  await signInAtProvider(page, sso.issuer, ALICE);
  await page.waitForURL(`${sso.webUrl}/users`);
  await loggedIn(page);
  await expect(page.getByRole("group", { name: "Your account" })).toContainText(ALICE.email);

  // Her groups say admin: the administration pages are hers, and she is in the users list.
  await expect(page.getByRole("heading", { level: 1, name: "Users" })).toBeVisible();
  for (const name of ["Users", "Roles", "Audit log", "Licence"]) await expect(navLink(page, name)).toBeVisible();
  await expect(page.getByRole("row").filter({ hasText: ALICE.email })).toBeVisible();
  const alice = await userByEmail(sso.api, ALICE.email);
  expect(alice).toMatchObject({ active: true, roles: ["admin"] });
  await shot(page, "sso-signed-in-admin");

  // The refresh cookie the callback set keeps her signed in over a reload.
  await page.reload();
  await loggedIn(page);
  await expect(page.getByRole("heading", { level: 1, name: "Users" })).toBeVisible();
  await navLink(page, "Licence").click();
  await expect(page.getByRole("heading", { level: 1, name: "Licence" })).toBeVisible();
});

test("a netops user gets the role netops maps to (maintainer): not the admin's pages; the admin finds the new account in Users", async ({ page, sso, newPage }) => {
  await sso.provider();
  const bobPage = await newPage();
  await bobPage.goto(`${sso.webUrl}/login`);
  await signOn(bobPage, sso, BOB);
  await bobPage.waitForURL((url) => url.href.startsWith(sso.webUrl) && !url.pathname.startsWith("/login"));
  await loggedIn(bobPage);
  await expect(bobPage.getByRole("group", { name: "Your account" })).toContainText(BOB.email);
  // maintainer: rules and API keys, users and the audit log to read; no role management, no licence.
  await expect(navLink(bobPage, "Rules")).toBeVisible();
  for (const name of ["Roles", "Licence"]) await expect(navLink(bobPage, name)).toHaveCount(0);
  for (const path of ["/roles", "/license"]) {
    await bobPage.goto(`${sso.webUrl}${path}`);
    await expect(bobPage.getByRole("heading", { name: "403 — Not allowed" })).toBeVisible();
  }
  await expect(bobPage.getByTestId("license-banner")).toHaveCount(0);
  await shot(bobPage, "sso-signed-in-maintainer");

  // Made just now by the sign-on (JIT), with the mapped role: the admin sees it in Users.
  await login(page, sso.webUrl, ADMIN);
  await loggedIn(page);
  await page.goto(`${sso.webUrl}/users`);
  const row = page.getByRole("row").filter({ hasText: BOB.email });
  await expect(row).toBeVisible();
  await expect(row).toContainText("maintainer");
  expect(await userByEmail(sso.api, BOB.email)).toMatchObject({ active: true, roles: ["maintainer"] });
});

test("state mismatch: a sign-on finished in another tab than the last one started comes back with a clear message", async ({ sso, newPage, checkA11y }) => {
  await sso.provider();
  const first = await newPage();
  await first.goto(`${sso.webUrl}/login`);
  await ssoButton(first).click();
  await first.waitForURL((url) => url.href.startsWith(`${sso.issuer}/interaction/`));
  // A second tab of the same browser starts another sign-on: its state replaces the first's.
  const second = await first.context().newPage();
  await second.goto(`${sso.webUrl}/login`);
  await ssoButton(second).click();
  await second.waitForURL((url) => url.href.startsWith(`${sso.issuer}/interaction/`));
  await second.close();

  await signInAtProvider(first, sso.issuer, CAROL);
  await first.waitForURL(`${sso.webUrl}/login`);
  await expect(ssoAlert(first)).toHaveText(/^Single sign-on could not be completed: the sign-in attempt expired or was started in another tab or browser\./);
  await expect(first.getByRole("navigation", { name: "Main" })).toHaveCount(0);
  expect(await userByEmail(sso.api, CAROL.email), "nobody signed in, no account made").toBeNull();
  await shot(first, "sso-state-mismatch");
  await checkA11y(first, "login after state_mismatch");
});

test("refusals at the provider or by the claims come back as plain messages, and nobody is signed in", async ({ sso, newPage }) => {
  await sso.provider();
  // Cancel at the provider.
  const cancel = await newPage();
  await cancel.goto(`${sso.webUrl}/login`);
  await ssoButton(cancel).click();
  await cancel.waitForURL((url) => url.href.startsWith(`${sso.issuer}/interaction/`));
  await cancel.getByRole("button", { name: "Cancel" }).click();
  await cancel.waitForURL(`${sso.webUrl}/login`);
  await expect(ssoAlert(cancel)).toHaveText(/^Sign-in was cancelled or refused at the identity provider\./);

  // An address the provider has not verified.
  const unverified = await newPage();
  await unverified.goto(`${sso.webUrl}/login`);
  await signOn(unverified, sso, EVE);
  await unverified.waitForURL(`${sso.webUrl}/login`);
  await expect(ssoAlert(unverified)).toHaveText(/^Your e-mail address is not verified at the identity provider\./);

  // Groups that map to no role (and no default role).
  const noRole = await newPage();
  await noRole.goto(`${sso.webUrl}/login`);
  await signOn(noRole, sso, DAN);
  await noRole.waitForURL(`${sso.webUrl}/login`);
  await expect(ssoAlert(noRole)).toHaveText(/^Your identity provider account is not in a group that gives access to Rookery\./);

  for (const who of [EVE, DAN]) expect(await userByEmail(sso.api, who.email), `${who.email} has no account`).toBeNull();
});

test("expired ID token: a provider whose clock is an hour behind signs tokens already expired; the person comes back to a clear message", async ({ page, ssoLateClock, checkA11y }) => {
  const reasons = await signOnRefused(page, ssoLateClock);
  // Refused for the expiry (beyond the backend's 60 s leeway), not for anything else.
  expect(reasons).toHaveLength(1);
  expect(reasons[0]).toMatch(/expired/);
  await shot(page, "sso-expired-id-token");
  await checkA11y(page, "login after invalid_id_token");
});

test("wrong audience: an ID token the provider signed for another client comes back as a clear message", async ({ page, ssoWrongAudience }) => {
  const reasons = await signOnRefused(page, ssoWrongAudience);
  // Refused for the audience (the token is otherwise sound: signed by the provider's key).
  expect(reasons).toHaveLength(1);
  expect(reasons[0]).toMatch(/\baud\b/);
});

test("when single sign-on is required the provider comes first; a password works only for the break-glass admin", async ({ page, ssoRequired, checkA11y }) => {
  const web = ssoRequired.webUrl;
  // An account with a password that is not on the break-glass list.
  const ops = { email: "ops-password@rookery.local", password: "Ops-e2e-Passw0rd!" };
  const made = await ssoRequired.api.call("POST", "/api/v1/users", { ...ops, roles: ["maintainer"] });
  expect(made.status, JSON.stringify(made.body)).toBe(201);

  await page.goto(`${web}/login`);
  const button = ssoButton(page);
  await expect(button).toHaveClass(/btn-primary/);
  await expect(page.getByText(/The password form below is only for administrators allowed to bypass it\./)).toBeVisible();
  const passwordForm = page.getByRole("form", { name: "Administrator emergency access" });
  await expect(passwordForm.getByRole("button", { name: "Sign in", exact: true })).toHaveClass(/btn-secondary/);
  await shot(page, "login-sso-required");
  await checkA11y(page, "login with single sign-on required");

  await login(page, web, ops);
  await expect(page.getByRole("main").getByRole("alert")).toHaveText(`Password sign-in is turned off on this server: use “Sign in with ${PROVIDER}” instead.`);

  await login(page, web, ADMIN);
  await loggedIn(page);
  await expect(navLink(page, "Users")).toBeVisible();
});
