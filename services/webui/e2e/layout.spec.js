// Layout: the phone width (sidebar folded into a menu, no page scrolling sideways, the login
// logo and the rule dialog in place, the menu closing on Escape and outside), and the watch
// every test runs under (a CSP violation or an uncaught page error fails a test).
import { ADMIN, expect, login, PHONE, shot, test } from "./fixtures.js";

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

test.describe("at 390 × 844", () => {
  test.use({ viewport: PHONE });

  test("phone width: the sidebar folds into a menu", async ({ page, web, checkA11y }) => {
    await page.goto(`${web}/login`);
    await shot(page, "login-phone");
    await login(page, web, ADMIN);
    await page.getByRole("button", { name: "Open menu" }).waitFor();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    expect(await page.getByRole("navigation", { name: "Main" }).isVisible(), "sidebar visible on a phone").toBe(false);
    await shot(page, "dashboard-phone");
    await checkA11y(page, "dashboard-phone");
    await page.getByRole("button", { name: "Open menu" }).click();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
    await page.getByRole("heading", { name: "Users" }).waitFor();
    await shot(page, "users-phone");
  });

  test("phone width (390 px): no page scrolls sideways, the login logo fits, the rule dialog is centred, the menu closes on Esc and outside", async ({ page, web, checkA11y }) => {
    await page.goto(`${web}/login`);
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    expect(await scrollWidth(page), "/login scrolls sideways").toBeLessThanOrEqual(PHONE.width);
    // The logo is drawn inside its box (not clipped by it) and centred on the screen.
    const logo = await page.locator("main svg").first().evaluate((svg) => {
      const r = svg.getBoundingClientRect();
      const box = svg.parentElement.getBoundingClientRect();
      return { left: r.left, right: r.right, width: r.width, boxLeft: box.left, boxRight: box.right };
    });
    expect(logo.left >= logo.boxLeft - 0.5 && logo.right <= logo.boxRight + 0.5, `login logo ${JSON.stringify(logo)} overflows its box`).toBe(true);
    expect(Math.abs((logo.left + logo.right) / 2 - PHONE.width / 2), `login logo not centred: ${JSON.stringify(logo)}`).toBeLessThanOrEqual(2);
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
    expect(wide, `pages wider than ${PHONE.width} px`).toEqual([]);

    await page.goto(`${web}/rules`);
    await page.getByRole("button", { name: "New rule" }).click();
    const dialog = page.getByRole("dialog", { name: "New rule" });
    await dialog.getByLabel("Name").waitFor();
    const box = await dialog.boundingBox();
    expect(box.x >= 0 && box.x + box.width <= PHONE.width && box.y >= 0 && box.y + box.height <= PHONE.height,
      `New rule dialog cut off: ${JSON.stringify(box)}`).toBe(true);
    expect(Math.abs(box.x + box.width / 2 - PHONE.width / 2), `New rule dialog not centred: ${JSON.stringify(box)}`).toBeLessThanOrEqual(2);
    await shot(page, "rules-dialog-phone");
    await dialog.getByRole("button", { name: "Cancel" }).click();

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
  });
});

test("the watch catches what breaks a page: an inline script the CSP refuses and an uncaught exception", async ({ page, web, watch }) => {
  await page.goto(`${web}/login`);
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  // The server's CSP allows same-origin scripts only: an injected inline one never runs.
  await page.evaluate(() => {
    const s = document.createElement("script");
    s.textContent = "window.__e2eInline = true";
    document.head.append(s);
    setTimeout(() => { throw new Error("e2e-watch-probe"); }, 0);
  });
  await expect.poll(() => watch.problems.length).toBeGreaterThanOrEqual(2);
  expect(await page.evaluate(() => window.__e2eInline), "an inline script ran despite the CSP").toBeUndefined();
  expect(watch.problems.some((p) => p.startsWith("CSP: ")), watch.problems.join("\n")).toBe(true);
  expect(watch.problems.some((p) => p === "uncaught: e2e-watch-probe"), watch.problems.join("\n")).toBe(true);
  // Both were provoked here: the watch's own end-of-test check must not count them.
  watch.problems.length = 0;
});
