// Rules: create (with field-level validation), reorder, delete, each version enforced by
// packet-service (a real Classify call); the VLAN check before sending, the default action's
// confirmation, following a change to "in sync", and the view kept in the URL.
import { expect, navLink, shot, test } from "./fixtures.js";

test("rules: create, reject bad input on the field, reorder, delete; packet-service enforces each version", async ({ adminPage: admin, api, checkA11y }) => {
  await navLink(admin, "Rules").click();
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
  await api.expectVerdict("10.9.9.9", 53, "allow");
  await admin.getByRole("button", { name: "Move drop-host up" }).click();
  // drop-host now comes before allow-dns (other scenarios' rules may sit above both).
  await admin.waitForFunction(() => {
    const names = [...document.querySelectorAll("[data-testid=rule-row] td:nth-child(2)")].map((td) => td.textContent ?? "");
    const at = (name) => names.findIndex((n) => n.startsWith(name));
    return at("drop-host") >= 0 && at("drop-host") + 1 === at("allow-dns");
  });
  await api.expectVerdict("10.9.9.9", 53, "drop");
  await shot(admin, "rules");
  await checkA11y(admin, "rules");
  await admin.getByRole("button", { name: "Delete drop-host" }).click();
  await admin.getByRole("dialog", { name: "Delete rule" }).getByRole("button", { name: "Delete" }).click();
  await admin.getByRole("cell", { name: "drop-host", exact: true }).waitFor({ state: "detached" });
  await api.expectVerdict("10.9.9.9", 53, "allow");
  await admin.getByRole("tab", { name: "Sync status" }).click();
  await admin.getByTestId("sync-state").filter({ hasText: "in sync" }).waitFor();
  await shot(admin, "rules-status");
  await checkA11y(admin, "rules-status");
});

test("rules: a non-numeric VLAN is refused before sending, the default action asks first, a change is followed to in sync, the view stays in the URL", async ({ adminPage: page, web, checkA11y }) => {
  const posts = [];
  page.on("request", (r) => { if (r.method() === "POST" && r.url().endsWith("/api/v1/rules")) posts.push(r.postData()); });
  await page.goto(`${web}/rules`);
  await page.getByRole("button", { name: "New rule" }).click();
  const dialog = page.getByRole("dialog", { name: "New rule" });
  await dialog.getByLabel("Name").fill("vlan-typo");
  await dialog.getByLabel("VLAN").fill("abc");
  await dialog.getByRole("button", { name: "Save rule" }).click();
  await dialog.getByText("A VLAN is a number from 0 to 4095").waitFor();
  expect(posts, `the rule was sent: ${posts.join(" ")}`).toHaveLength(0);
  await dialog.getByLabel("VLAN").fill("100");
  await dialog.getByRole("button", { name: "Save rule" }).click();
  await page.getByText("Rule “vlan-typo” created").waitFor();
  const follow = page.getByTestId("deployment-follow");
  await follow.filter({ hasText: /is live on/ }).waitFor({ timeout: 20_000 });
  const row = page.getByTestId("rule-row").filter({ hasText: "vlan-typo" });
  await row.getByRole("cell", { name: "100", exact: true }).waitFor();
  expect(await row.getByRole("button", { name: "Edit vlan-typo" }).evaluate((b) => b === document.activeElement), "the new rule's row does not have focus").toBe(true);

  // One accent: the primary button and the active navigation item share the same gold.
  const gold = await page.evaluate(() => {
    const bg = (el) => getComputedStyle(el).backgroundColor;
    const primary = [...document.querySelectorAll("button")].find((b) => b.textContent.includes("New rule"));
    const active = document.querySelector("nav[aria-label=Main] a[aria-current=page]");
    const tab = document.querySelector("[role=tab][aria-selected=true]");
    return { primary: bg(primary), active: bg(active), tab: getComputedStyle(tab).borderBottomColor };
  });
  expect(gold.primary === gold.active && gold.active === gold.tab, `accents differ: ${JSON.stringify(gold)}`).toBe(true);

  const select = page.getByLabel("Default action");
  const before = await select.inputValue();
  const other = before === "allow" ? "drop" : "allow";
  let puts = 0;
  page.on("request", (r) => { if (r.method() === "PUT") puts++; });
  await select.selectOption(other);
  const confirm = page.getByRole("dialog", { name: "Change the default action" });
  await confirm.waitFor();
  await checkA11y(page, "rules-default-action-confirm");
  await confirm.getByRole("button", { name: "Cancel" }).click();
  expect(puts === 0 && (await select.inputValue()) === before, "the default action changed without confirmation").toBe(true);

  // Sort and filter live in the URL: a reload and Back keep them.
  await page.getByRole("columnheader", { name: /Name/ }).getByRole("button").click();
  await page.waitForURL(/sort=name/);
  await page.getByLabel("Filter rules", { exact: true }).fill("vlan");
  await page.waitForURL(/q=vlan/);
  await page.reload();
  await page.getByTestId("rule-row").filter({ hasText: "vlan-typo" }).waitFor();
  expect(await page.getByLabel("Filter rules", { exact: true }).inputValue(), "the filter was lost on reload").toBe("vlan");
  await page.getByRole("tab", { name: "Sync status" }).click();
  await page.waitForURL(/tab=status/);
  await page.goBack();
  await page.getByTestId("rule-row").filter({ hasText: "vlan-typo" }).waitFor();
  expect(/sort=name/.test(page.url()) && /q=vlan/.test(page.url()), `Back lost the view: ${page.url()}`).toBe(true);
  await shot(page, "rules-follow");
  await checkA11y(page, "rules-follow");

  await page.getByRole("button", { name: "Delete vlan-typo" }).click();
  await page.getByRole("dialog", { name: "Delete rule" }).getByRole("button", { name: "Delete" }).click();
  await page.getByText("Rule “vlan-typo” deleted").waitFor();
});
