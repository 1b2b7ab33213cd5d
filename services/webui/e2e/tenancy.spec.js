// Teams, rule sets and grants in the browser: a team maintainer (no global role at all) sees
// and edits only their team's rule sets; a team-admin who may not list accounts adds a member
// by e-mail address; a viewer of one rule set (a grant) sees only its rules and its statistics. Everything is set up through the API as the admin, then each
// person signs in and uses the UI; what the UI shows is checked against what the API says.
import { expect, login, loggedIn, navLink, shot, test } from "./fixtures.js";

const PASSWORD = "Tenant-e2e-Passw0rd!";

/** A unique suffix per test run: the trio is shared by every spec. */
const tag = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

async function must(res, what, status = [200, 201]) {
  if (!status.includes(res.status)) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body?.data;
}

/** A user with no global role: whatever they may do comes from teams and grants. */
async function person(api, name) {
  const email = `${name}@rookery.local`;
  const user = await must(await api.call("POST", "/api/v1/users", { email, password: PASSWORD, roles: [] }), `creating ${email}`);
  return { id: user.id, email, password: PASSWORD };
}

/** Two teams, each with a rule set holding one rule, and a global set with a rule. */
async function twoTeams(api) {
  const t = tag();
  const blue = await must(await api.call("POST", "/api/v1/teams", { name: `blue-${t}`, description: "network A" }), "creating team blue");
  const red = await must(await api.call("POST", "/api/v1/teams", { name: `red-${t}` }), "creating team red");
  const blueSet = await must(await api.call("POST", "/api/v1/rulesets", { name: `blue-set-${t}`, team_id: blue.id, default_action: "allow" }), "creating blue's rule set");
  const redSet = await must(await api.call("POST", "/api/v1/rulesets", { name: `red-set-${t}`, team_id: red.id, default_action: "drop" }), "creating red's rule set");
  const rule = (name, dst) => ({ name, action: "drop", protocol: "udp", src: [], dst: [dst], src_ports: [], dst_ports: ["53"], enabled: true });
  await must(await api.call("POST", `/api/v1/rulesets/${blueSet.id}/rules`, rule(`blue-rule-${t}`, "10.1.0.0/16")), "a rule in blue's set");
  await must(await api.call("POST", `/api/v1/rulesets/${redSet.id}/rules`, rule(`red-rule-${t}`, "10.2.0.0/16")), "a rule in red's set");
  return { t, blue, red, blueSet, redSet };
}

/** The names the Rules page's switcher offers. */
const switcherOptions = (page) => page.locator("#ruleset-switch option").allTextContents();

test("teams: a team maintainer sees and edits only their team's rule sets", async ({ page, web, api, checkA11y }) => {
  const { t, blue, blueSet, redSet } = await twoTeams(api);
  const maintainer = await person(api, `maintainer-${t}`);
  await must(await api.call("POST", `/api/v1/teams/${blue.id}/members`, { user_id: maintainer.id, role: "team-maintainer" }), "adding the maintainer to blue");

  await login(page, web, maintainer);
  await loggedIn(page);
  // No global role: the sidebar shows what the team opens, and no administration.
  await expect(navLink(page, "Rules")).toBeVisible();
  await expect(navLink(page, "Teams")).toBeVisible();
  await expect(navLink(page, "Users")).toHaveCount(0);
  await expect(navLink(page, "Audit log")).toHaveCount(0);

  await navLink(page, "Rules").click();
  await page.getByRole("cell", { name: `blue-rule-${t}`, exact: true }).waitFor();
  // Only blue's set: not the default set, not red's.
  expect(await switcherOptions(page)).toEqual([`${blueSet.name} · ${blue.name}`]);
  await expect(page.getByRole("cell", { name: `red-rule-${t}`, exact: true })).toHaveCount(0);

  // Editing: a new rule lands in blue's set (checked through the API), not in the default set.
  await page.getByRole("button", { name: "New rule" }).click();
  const dialog = page.getByRole("dialog", { name: "New rule" });
  await dialog.getByLabel("Name").fill(`blue-added-${t}`);
  await dialog.getByLabel("Action").selectOption("allow");
  await dialog.getByLabel("Protocol").fill("tcp");
  await dialog.getByLabel("Destination CIDRs").fill("10.1.2.0/24");
  await dialog.getByRole("button", { name: "Save rule" }).click();
  await page.getByRole("cell", { name: `blue-added-${t}`, exact: true }).waitFor();
  const blueRules = await must(await api.call("GET", `/api/v1/rulesets/${blueSet.id}/rules`), "reading blue's rules");
  expect(blueRules.map((r) => r.name)).toContain(`blue-added-${t}`);
  const defaultRules = await must(await api.call("GET", "/api/v1/rules?per_page=1000"), "reading the default set");
  expect(defaultRules.map((r) => r.name)).not.toContain(`blue-added-${t}`);
  // Reordering acts on blue's set too.
  await page.getByRole("button", { name: `Move blue-added-${t} up` }).click();
  await expect.poll(async () => (await must(await api.call("GET", `/api/v1/rulesets/${blueSet.id}/rules`), "reading blue's rules")).map((r) => r.name))
    .toEqual([`blue-added-${t}`, `blue-rule-${t}`]);
  // A maintainer does not manage grants.
  await expect(page.getByRole("button", { name: "Grants", exact: true })).toHaveCount(0);
  await shot(page, "rules-team-maintainer");
  await checkA11y(page, "rules (team maintainer)");

  // Red's set by a deep link: refused in words, and the API agrees.
  await page.goto(`${web}/rules?set=${redSet.id}`);
  await page.getByText("This rule set does not exist or your account may not read it").waitFor();
  await expect(page.getByRole("cell", { name: `red-rule-${t}`, exact: true })).toHaveCount(0);

  // The Teams page: their team, read-only for a maintainer.
  await navLink(page, "Teams").click();
  await page.getByRole("cell", { name: maintainer.email }).waitFor();
  await expect(page.getByTestId("team-row")).toHaveCount(1);
  await expect(page.getByRole("button", { name: "Add member" })).toHaveCount(0);
  await checkA11y(page, "teams (team maintainer)");
});

test("teams: a team-admin without users:read adds a member by e-mail address", async ({ page, web, api, trio, checkA11y }) => {
  const { t, blue } = await twoTeams(api);
  const boss = await person(api, `boss-${t}`);
  const newcomer = await person(api, `newcomer-${t}`);
  await must(await api.call("POST", `/api/v1/teams/${blue.id}/members`, { user_id: boss.id, role: "team-admin" }), "making boss blue's team-admin");
  const directory = [];
  page.on("request", (r) => {
    if (new URL(r.url()).pathname === "/api/v1/users") directory.push(r.url());
  });

  await login(page, web, boss);
  await loggedIn(page);
  await expect(navLink(page, "Users")).toHaveCount(0);
  await navLink(page, "Teams").click();
  await page.getByRole("cell", { name: boss.email, exact: true }).waitFor();
  const field = page.getByLabel("New member");
  await expect(page.getByText("Their e-mail address, as they sign in with it.")).toBeVisible();
  // An id is refused in words before anything is sent (the API would refuse it too).
  await field.fill(String(newcomer.id));
  await page.getByRole("button", { name: "Add member" }).click();
  await page.getByText(/naming users by id needs users:read/).waitFor();
  // An address nobody has: said on the field.
  await field.fill(`nobody-${t}@rookery.local`);
  await page.getByRole("button", { name: "Add member" }).click();
  await page.getByText("No account has this e-mail address.").waitFor();
  await checkA11y(page, "teams (unknown e-mail address)");
  // The newcomer's address, typed in capitals: matched as at sign-in.
  await field.fill(newcomer.email.toUpperCase());
  await page.getByLabel("Team role", { exact: true }).selectOption("team-viewer");
  await page.getByRole("button", { name: "Add member" }).click();
  await page.getByRole("cell", { name: newcomer.email, exact: true }).waitFor();
  const members = await must(await api.call("GET", `/api/v1/teams/${blue.id}/members`), "listing blue's members");
  expect(members.map((m) => [m.user_id, m.role]).sort()).toEqual([[boss.id, "team-admin"], [newcomer.id, "team-viewer"]].sort());
  expect(directory, "the account directory is never asked for").toEqual([]);
  // The API itself refuses this team-admin an id, the same way for an account that exists and one that does not.
  const signIn = await fetch(`${trio.backendUrl}/api/v1/auth/login`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: boss.email, password: boss.password }),
  });
  const token = (await signIn.json()).data?.access_token;
  const byId = async (id) => {
    const res = await fetch(`${trio.backendUrl}/api/v1/teams/${blue.id}/members`, {
      method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ user_id: id, role: "team-viewer" }),
    });
    return [res.status, await res.json()];
  };
  const [existing, missing] = [await byId(newcomer.id), await byId(999_999)];
  expect(existing[0]).toBe(403);
  expect(existing).toEqual(missing);
  await shot(page, "teams-team-admin-by-email");
  await checkA11y(page, "teams (team-admin without users:read)");
});

test("grants: a viewer of one rule set sees only its rules and its statistics", async ({ page, web, api, trio, checkA11y }) => {
  const { t, blueSet, redSet } = await twoTeams(api);
  const viewer = await person(api, `grantee-${t}`);
  // The trio's packet-service (a sensor seeded on the default set) enforces red's set for the
  // length of the test, so red's statistics are real; it goes back to the default set after.
  const sensors = await must(await api.call("GET", "/api/v1/sensors?per_page=200"), "listing the sensors");
  const sensor = sensors.find((s) => s.address === trio.packetTarget);
  if (!sensor) throw new Error(`no sensor for the trio's packet-service ${trio.packetTarget}: ${JSON.stringify(sensors)}`);
  await must(await api.call("PATCH", `/api/v1/sensors/${sensor.id}`, { ruleset_id: redSet.id }), "moving the sensor to red's set");
  try {
    await viewerScenario({ page, web, api, trio, checkA11y, t, blueSet, redSet, viewer, sensor });
  } finally {
    await must(await api.call("PATCH", `/api/v1/sensors/${sensor.id}`, { ruleset_id: sensor.ruleset_id }), "moving the sensor back");
  }
});

async function viewerScenario({ page, web, api, trio, checkA11y, t, blueSet, redSet, viewer, sensor }) {
  // The admin grants through the dialog on the Rules page.
  const admin = page;
  await login(admin, web, { email: "admin@rookery.local", password: "Admin-e2e-Passw0rd!" });
  await loggedIn(admin);
  await admin.goto(`${web}/rules?set=${redSet.id}`);
  await admin.getByRole("cell", { name: `red-rule-${t}`, exact: true }).waitFor();
  await admin.getByRole("button", { name: "Grants", exact: true }).click();
  const grants = admin.getByRole("dialog", { name: `Grants on rule set ${redSet.name}` });
  await grants.getByLabel("User's e-mail address", { exact: true }).fill(viewer.email);
  await grants.getByLabel("Role").selectOption("viewer");
  await grants.getByRole("button", { name: "Add grant" }).click();
  await grants.getByRole("cell", { name: viewer.email, exact: true }).waitFor();
  await checkA11y(admin, "grants dialog");
  // The same grant twice: a 409 in words.
  await grants.getByLabel("User's e-mail address", { exact: true }).fill(viewer.email);
  await grants.getByRole("button", { name: "Add grant" }).click();
  await grants.getByText("already has a grant on this rule set").waitFor();
  await grants.getByRole("button", { name: "Close" }).click();
  const listed = await must(await api.call("GET", `/api/v1/rulesets/${redSet.id}/grants`), "listing red's grants");
  expect(listed.map((g) => [g.user_id, g.role])).toEqual([[viewer.id, "viewer"]]);
  await admin.getByRole("button", { name: "Log out" }).click();
  await admin.waitForURL(/\/login$/);

  const stats = [];
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith("/api/v1/stats/")) stats.push({ path: u.pathname, ruleset: u.searchParams.get("ruleset_id") });
  });
  const answers = [];
  page.on("response", (r) => {
    if (new URL(r.url()).pathname.startsWith("/api/v1/stats/")) answers.push(r.status());
  });
  await login(page, web, viewer);
  await loggedIn(page);
  await expect(navLink(page, "Dashboard")).toBeVisible();
  await expect(navLink(page, "Rules")).toBeVisible();
  await expect(navLink(page, "Teams")).toHaveCount(0);

  // Rules: only red's set, read-only.
  await navLink(page, "Rules").click();
  await page.getByRole("cell", { name: `red-rule-${t}`, exact: true }).waitFor();
  expect(await switcherOptions(page)).toEqual([expect.stringContaining(redSet.name)]);
  await expect(page.getByText("read-only")).toBeVisible();
  await expect(page.getByRole("button", { name: "New rule" })).toHaveCount(0);
  await expect(page.getByRole("cell", { name: `blue-rule-${t}`, exact: true })).toHaveCount(0);
  await page.goto(`${web}/rules?set=${blueSet.id}`);
  await page.getByText("This rule set does not exist or your account may not read it").waitFor();
  await checkA11y(page, "rules (rule-set viewer)");

  // Statistics: the dashboard answers (no 403), and its filter offers red's set only.
  await navLink(page, "Dashboard").click();
  const filter = page.locator("#stats-ruleset");
  await filter.waitFor();
  expect(await filter.locator("option").allTextContents()).toEqual(["Every rule set", redSet.name]);
  await filter.selectOption(String(redSet.id));
  await expect.poll(() => stats.some((s) => s.path === "/api/v1/stats/summary" && s.ruleset === String(redSet.id))).toBe(true);
  await expect.poll(() => answers.length).toBeGreaterThan(2);
  expect(answers.filter((s) => s === 403), "no statistics call refused").toEqual([]);
  await expect(page.getByText("Your account is not allowed")).toHaveCount(0);
  // The sensor filter offers the sensor of red's set, nothing else.
  expect(await page.locator("#stats-sensor option").allTextContents()).toEqual(["Every sensor", sensor.name]);
  // Another set's statistics are refused by the API for this viewer.
  const signIn = await fetch(`${trio.backendUrl}/api/v1/auth/login`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: viewer.email, password: viewer.password }),
  });
  const token = (await signIn.json()).data?.access_token;
  const other = await fetch(`${trio.backendUrl}/api/v1/stats/summary?ruleset_id=${blueSet.id}`, { headers: { authorization: `Bearer ${token}` } });
  expect([403, 404], `stats of blue's set for red's viewer answered ${other.status}`).toContain(other.status);
  const own = await fetch(`${trio.backendUrl}/api/v1/stats/summary?ruleset_id=${redSet.id}`, { headers: { authorization: `Bearer ${token}` } });
  expect(own.status, "stats of red's set for red's viewer").toBe(200);
  void api;
  await shot(page, "dashboard-rule-set-viewer");
  await checkA11y(page, "dashboard (rule-set viewer)");
}
