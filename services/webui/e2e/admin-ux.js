// Browser scenarios for the administrator's experience: phone layout on every page, the
// rule dialog's checks, deployment feedback, the default-action confirmation, view state in
// the URL, one gold accent and the audit log's filters and CSV export. run.js runs them with
// its own helpers (passed in), against the same trio.
import { readFileSync } from "node:fs";

const PHONE = { width: 390, height: 844 };
const PAGES = [
  ["/dashboard", "Dashboard"],
  ["/rules", "Rules"],
  ["/users", "Users"],
  ["/roles", "Roles"],
  ["/api-keys", "API keys"],
  ["/audit", "Audit log"],
  ["/profile", "Profile"],
];

/** How wide the document is: more than the viewport means the page scrolls sideways. */
const scrollWidth = (page) => page.evaluate(() => document.scrollingElement.scrollWidth);

export function adminUxScenarios({ web, ADMIN, newPage, login, loggedIn, checkA11y, shot, expect, Skip, hasRules, trio, apiToken }) {
  return [
    ["phone width (390 px): no page scrolls sideways, the login logo fits, the rule dialog is centred, the menu closes on Esc and outside", async () => {
      const page = await newPage(PHONE);
      await page.goto(`${web}/login`);
      await page.getByRole("button", { name: "Sign in" }).waitFor();
      expect((await scrollWidth(page)) <= PHONE.width, `/login is ${await scrollWidth(page)} px wide`);
      // The logo is drawn inside its box (not clipped by it) and centred on the screen.
      const logo = await page.locator("main svg").first().evaluate((svg) => {
        const r = svg.getBoundingClientRect();
        const box = svg.parentElement.getBoundingClientRect();
        return { left: r.left, right: r.right, width: r.width, boxLeft: box.left, boxRight: box.right };
      });
      expect(logo.left >= logo.boxLeft - 0.5 && logo.right <= logo.boxRight + 0.5, `login logo ${JSON.stringify(logo)} overflows its box`);
      expect(Math.abs((logo.left + logo.right) / 2 - PHONE.width / 2) <= 2, `login logo not centred: ${JSON.stringify(logo)}`);
      await login(page, web, ADMIN);
      await page.getByRole("button", { name: "Open menu" }).waitFor();
      const wide = [];
      for (const [path, heading] of PAGES) {
        await page.goto(`${web}${path}`);
        await page.getByRole("heading", { name: heading, level: 1 }).waitFor();
        await page.locator("table, [role=tabpanel], form").first().waitFor().catch(() => {});
        await page.waitForTimeout(400); // late content (lists, charts) settles
        const width = await scrollWidth(page);
        if (width > PHONE.width) wide.push(`${path} ${width} px`);
      }
      expect(wide.length === 0, `pages wider than ${PHONE.width} px: ${wide.join(", ")}`);

      if (hasRules) {
        await page.goto(`${web}/rules`);
        await page.getByRole("button", { name: "New rule" }).click();
        const dialog = page.getByRole("dialog", { name: "New rule" });
        await dialog.getByLabel("Name").waitFor();
        const box = await dialog.boundingBox();
        expect(box.x >= 0 && box.x + box.width <= PHONE.width && box.y >= 0 && box.y + box.height <= PHONE.height,
          `New rule dialog cut off: ${JSON.stringify(box)}`);
        expect(Math.abs(box.x + box.width / 2 - PHONE.width / 2) <= 2, `New rule dialog not centred: ${JSON.stringify(box)}`);
        await shot(page, "rules-dialog-phone");
        await dialog.getByRole("button", { name: "Cancel" }).click();
      }

      const menu = page.getByRole("navigation", { name: "Main" });
      await page.getByRole("button", { name: "Open menu" }).click();
      await menu.waitFor();
      await page.getByTestId("menu-backdrop").waitFor();
      await shot(page, "menu-phone");
      await checkA11y(page, "menu-phone");
      await page.keyboard.press("Escape");
      await menu.waitFor({ state: "hidden" });
      await page.getByRole("button", { name: "Open menu" }).click();
      await menu.waitFor();
      await page.mouse.click(PHONE.width - 20, PHONE.height / 2); // outside the 256 px menu
      await menu.waitFor({ state: "hidden" });
      await page.context().close();
    }],

    ["rules: a non-numeric VLAN is refused before sending, the default action asks first, a change is followed to in sync, the view stays in the URL", async () => {
      const page = await newPage();
      const posts = [];
      page.on("request", (r) => { if (r.method() === "POST" && r.url().endsWith("/api/v1/rules")) posts.push(r.postData()); });
      await login(page, web, ADMIN);
      await loggedIn(page);
      await page.goto(`${web}/rules`);
      await page.getByRole("button", { name: "New rule" }).click();
      const dialog = page.getByRole("dialog", { name: "New rule" });
      await dialog.getByLabel("Name").fill("vlan-typo");
      await dialog.getByLabel("VLAN").fill("abc");
      await dialog.getByRole("button", { name: "Save rule" }).click();
      await dialog.getByText("A VLAN is a number from 0 to 4095").waitFor();
      expect(posts.length === 0, `the rule was sent: ${posts.join(" ")}`);
      await dialog.getByLabel("VLAN").fill("100");
      await dialog.getByRole("button", { name: "Save rule" }).click();
      await page.getByText("Rule “vlan-typo” created").waitFor();
      const follow = page.getByTestId("deployment-follow");
      await follow.filter({ hasText: /is live on/ }).waitFor({ timeout: 20_000 });
      const row = page.getByTestId("rule-row").filter({ hasText: "vlan-typo" });
      await row.getByRole("cell", { name: "100", exact: true }).waitFor();
      expect(await row.getByRole("button", { name: "Edit vlan-typo" }).evaluate((b) => b === document.activeElement), "the new rule's row does not have focus");

      // One accent: the primary button and the active navigation item share the same gold.
      const gold = await page.evaluate(() => {
        const bg = (el) => getComputedStyle(el).backgroundColor;
        const primary = [...document.querySelectorAll("button")].find((b) => b.textContent.includes("New rule"));
        const active = document.querySelector("nav[aria-label=Main] a[aria-current=page]");
        const tab = document.querySelector("[role=tab][aria-selected=true]");
        return { primary: bg(primary), active: bg(active), tab: getComputedStyle(tab).borderBottomColor };
      });
      expect(gold.primary === gold.active && gold.active === gold.tab, `accents differ: ${JSON.stringify(gold)}`);

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
      expect(puts === 0 && (await select.inputValue()) === before, "the default action changed without confirmation");

      // Sort and filter live in the URL: a reload and Back keep them.
      await page.getByRole("columnheader", { name: /Name/ }).getByRole("button").click();
      await page.waitForURL(/sort=name/);
      await page.getByLabel("Filter rules", { exact: true }).fill("vlan");
      await page.waitForURL(/q=vlan/);
      await page.reload();
      await page.getByTestId("rule-row").filter({ hasText: "vlan-typo" }).waitFor();
      expect((await page.getByLabel("Filter rules", { exact: true }).inputValue()) === "vlan", "the filter was lost on reload");
      await page.getByRole("tab", { name: "Sync status" }).click();
      await page.waitForURL(/tab=status/);
      await page.goBack();
      await page.getByTestId("rule-row").filter({ hasText: "vlan-typo" }).waitFor();
      expect(/sort=name/.test(page.url()) && /q=vlan/.test(page.url()), `Back lost the view: ${page.url()}`);
      await shot(page, "rules-follow");
      await checkA11y(page, "rules-follow");

      await page.getByRole("button", { name: "Delete vlan-typo" }).click();
      await page.getByRole("dialog", { name: "Delete rule" }).getByRole("button", { name: "Delete" }).click();
      await page.getByText("Rule “vlan-typo” deleted").waitFor();
      await page.context().close();
    }],

    ["audit log: filter by actor and target, readable targets, export the filtered log as CSV", async () => {
      const page = await newPage();
      await login(page, web, ADMIN);
      await loggedIn(page);
      await page.goto(`${web}/audit?actor=${encodeURIComponent(ADMIN.email)}&event=login_succeeded`);
      await page.getByTestId("audit-row").first().waitFor();
      const actors = await page.locator("[data-testid=audit-row] td:nth-child(3)").allTextContents();
      expect(actors.length > 0 && actors.every((a) => a === ADMIN.email), `actor filter: ${actors.slice(0, 3).join(", ")}`);
      if (hasRules) {
        // A rule made through the API shows up by its name, and the target filter finds it so.
        const res = await fetch(`${trio.backendUrl}/api/v1/rules`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${await apiToken()}` },
          body: JSON.stringify({ name: "audit-e2e-rule", action: "count", protocol: "udp", dst_ports: ["9"] }),
        });
        expect(res.status === 201, `creating a rule answered ${res.status}`);
        await page.goto(`${web}/audit?target=audit-e2e`);
        const target = page.locator("[data-testid=audit-row] td:nth-child(4)").first();
        await target.filter({ hasText: "audit-e2e-rule" }).waitFor();
        await page.goto(`${web}/audit?actor=${encodeURIComponent(ADMIN.email)}&event=login_succeeded`);
        await page.getByTestId("audit-row").first().waitFor();
      }
      const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
      const csv = readFileSync(await download.path(), "utf8");
      const lines = csv.trim().split(/\r?\n/);
      expect(lines[0].startsWith("id,created_at,event,actor_id,actor_email,target,target_label"), `CSV header: ${lines[0]}`);
      expect(lines.length > 1 && lines.slice(1).every((l) => l.includes(",login_succeeded,")), "CSV ignores the filters");
      await shot(page, "audit-filtered");
      await checkA11y(page, "audit-filtered");
      await page.context().close();
    }],
  ];
}
