// Users and roles: create, edit, deactivate and delete accounts through their dialogs, the
// built-in service account's warnings, the list's view state in the URL and its CSV export,
// and a custom role from scope checkboxes.
import { readFileSync } from "node:fs";
import { expect, navLink, shot, sleep, test } from "./fixtures.js";

test("admin creates a viewer user with confirmation dialogs for destructive actions", async ({ adminPage: admin, checkA11y }) => {
  const VIEWER = { email: `viewer-${Date.now()}@rookery.local`, password: "Viewer-e2e-Passw0rd!" };
  await navLink(admin, "Users").click();
  await admin.getByRole("heading", { name: "Users" }).waitFor();
  await admin.getByRole("button", { name: "New user" }).click();
  const dialog = admin.getByRole("dialog", { name: "Create user" });
  await dialog.getByLabel("Email").fill(VIEWER.email);
  await dialog.getByLabel("Initial password").fill(VIEWER.password);
  const viewerBox = dialog.getByRole("checkbox", { name: "viewer" });
  if (!(await viewerBox.isChecked())) await viewerBox.check();
  await checkA11y(admin, "users-create-dialog");
  await dialog.getByRole("button", { name: "Create user" }).click();
  await admin.getByRole("cell", { name: VIEWER.email, exact: true }).waitFor();
  await admin.getByLabel("Search by email").fill(VIEWER.email);
  await admin.waitForFunction(() => document.querySelectorAll("tbody tr").length === 1);
  await admin.getByRole("button", { name: `Delete ${VIEWER.email}` }).click();
  await admin.getByRole("dialog", { name: "Delete user" }).getByRole("button", { name: "Cancel" }).click();
  await admin.getByLabel("Search by email").fill("");
  await admin.getByRole("cell", { name: VIEWER.email, exact: true }).waitFor();
  // A throwaway account: deactivate it, find it under "Inactive", then delete it.
  const created = `temp-${Date.now()}@rookery.local`;
  await admin.getByRole("button", { name: "New user" }).click();
  await dialog.getByLabel("Email").fill(created);
  await dialog.getByLabel("Initial password").fill("Temp-e2e-Passw0rd!");
  await dialog.getByRole("button", { name: "Create user" }).click();
  await admin.getByRole("cell", { name: created, exact: true }).waitFor();
  // Edit its e-mail and password through the edit dialog.
  const temp = created.replace("temp-", "renamed-");
  await admin.getByRole("button", { name: `Edit ${created}` }).click();
  const edit = admin.getByRole("dialog", { name: `Edit ${created}` });
  await edit.getByLabel("Email").fill(temp);
  await edit.getByLabel(/New password/).fill("Renamed-e2e-Passw0rd!");
  await edit.getByRole("button", { name: "Save" }).click();
  await admin.getByRole("cell", { name: temp, exact: true }).waitFor();
  await admin.getByRole("button", { name: `Deactivate ${temp}` }).click();
  await admin.getByRole("dialog", { name: "Deactivate user" }).getByRole("button", { name: "Deactivate" }).click();
  await admin.getByRole("button", { name: `Activate ${temp}` }).waitFor();
  await admin.getByLabel("Status").selectOption("inactive");
  await admin.waitForFunction((email) => {
    const cells = [...document.querySelectorAll("tbody tr td:first-child")].map((td) => td.textContent);
    return cells.length === 1 && cells[0] === email;
  }, temp);
  await admin.getByRole("button", { name: `Delete ${temp}` }).click();
  await admin.getByRole("dialog", { name: "Delete user" }).getByRole("button", { name: "Delete" }).click();
  await admin.getByRole("cell", { name: temp, exact: true }).waitFor({ state: "detached" });
  await admin.getByLabel("Status").selectOption("");
  await admin.getByRole("cell", { name: VIEWER.email, exact: true }).waitFor();
  await shot(admin, "users");
  await checkA11y(admin, "users");
});

test("roles page builds a custom role from scope checkboxes", async ({ adminPage: admin, checkA11y }) => {
  await navLink(admin, "Roles").click();
  await admin.getByRole("button", { name: "New role" }).click();
  const dialog = admin.getByRole("dialog", { name: "Create role" });
  await dialog.getByLabel("Name").fill("auditor");
  await dialog.getByLabel("Description").fill("Reads the audit log");
  await dialog.getByRole("checkbox", { name: /audit:read/ }).check();
  await dialog.getByRole("button", { name: "Save role" }).click();
  await admin.getByRole("heading", { name: "auditor" }).waitFor();
  await shot(admin, "roles");
  await checkA11y(admin, "roles");
});

test("the built-in service account is marked, and deactivating it or revoking its key warns first", async ({ adminPage: admin, checkA11y }) => {
  const account = "packet-publisher@rookery.internal";
  await navLink(admin, "Users").click();
  await admin.getByLabel("Search by email").fill(account);
  const cell = admin.getByRole("cell", { name: new RegExp(account.replace(/\./g, "\\.")) });
  await cell.getByText("service account").waitFor();
  await admin.getByRole("button", { name: `Deactivate ${account}` }).click();
  const dialog = admin.getByRole("dialog", { name: "Deactivate user" });
  await dialog.getByRole("button", { name: "Deactivate", exact: true }).click();
  // The backend refuses without force and says what would stop; nothing is forced here
  // (rule publishing must keep working for the other scenarios).
  await dialog.getByText(/deactivating it stops/).waitFor();
  await dialog.getByRole("button", { name: "Deactivate anyway" }).waitFor();
  await shot(admin, "users-service-account-warning");
  await checkA11y(admin, "users-service-account-warning");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await admin.getByRole("button", { name: `Deactivate ${account}` }).waitFor();
  await admin.getByLabel("Search by email").fill("");
  await navLink(admin, "API keys").click();
  // The box follows the URL a moment after the click (check() demands the change at once)
  const showEveryone = admin.getByLabel("Show every user's keys");
  await showEveryone.click();
  await expect(showEveryone).toBeChecked();
  const row = admin.getByRole("row").filter({ hasText: account }).first();
  await row.getByText("service account").waitFor();
  await row.getByRole("button", { name: /^Revoke / }).click();
  const revoke = admin.getByRole("dialog", { name: "Revoke API key" });
  await revoke.getByRole("button", { name: "Revoke", exact: true }).click();
  await revoke.getByRole("button", { name: "Revoke anyway" }).waitFor();
  await revoke.getByText(/revoking its key stops/).waitFor();
  await shot(admin, "apikeys-service-account-warning");
  await revoke.getByRole("button", { name: "Cancel" }).click();
  // The box follows the URL, which updates a moment after the click: click, then
  // wait for the box to follow (uncheck() would demand the change at once).
  const everyone = admin.getByLabel("Show every user's keys");
  await everyone.click();
  for (let i = 0; i < 50 && (await everyone.isChecked()); i++) await sleep(100);
  expect(await everyone.isChecked(), "'Show every user's keys' stayed ticked").toBe(false);
});

test("users: sort, page size and filters survive reload and Back; a new user is shown where it lands; CSV export follows the filters", async ({ adminPage: page, web, api, checkA11y }) => {
  await page.goto(`${web}/users?per=10&sort=-email`);
  await page.getByTestId("user-row").first().waitFor();
  // Enough users for a second page (made through the API); the last one through the dialog.
  const stamp = Date.now();
  for (let i = 0; i < 10; i++) {
    const res = await api.call("POST", "/api/v1/users", { email: `bulk-${stamp}-${i}@rookery.local`, password: "Bulk-e2e-Passw0rd!", roles: ["viewer"] });
    expect(res.status, `creating a user answered ${res.status}`).toBe(201);
  }
  await page.reload();
  await page.getByTestId("user-row").first().waitFor();
  expect(await page.getByLabel("Rows per page").inputValue(), "page size lost on reload").toBe("10");
  expect(await page.getByRole("columnheader", { name: /Email/ }).getAttribute("aria-sort"), "sort lost on reload").toBe("descending");
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
  expect(page.url(), `not on the new user's page: ${page.url()}`).toMatch(/[?&]page=([2-9]|\d\d)/);
  expect(await row.getByRole("button", { name: `Edit ${created}` }).evaluate((b) => b === document.activeElement), "the new user's row is not focused").toBe(true);
  await shot(page, "users-created-shown");
  // Filters into the URL; Back returns to the unfiltered view.
  await page.getByLabel("Status").selectOption("inactive");
  await page.waitForURL(/status=inactive/);
  await page.goBack();
  await page.waitForURL((u) => !u.search.includes("status="));
  expect(await page.getByLabel("Status").inputValue(), "Back did not restore the filter").toBe("");
  await page.getByLabel("Search by email").fill(`bulk-${stamp}`);
  await page.waitForURL(/q=bulk/);
  await page.waitForFunction((text) => {
    const rows = [...document.querySelectorAll("[data-testid=user-row]")];
    return rows.length === 10 && rows.every((r) => r.textContent.includes(text));
  }, `bulk-${stamp}`);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
  const lines = readFileSync(await download.path(), "utf8").trim().split(/\r?\n/);
  expect(lines[0].startsWith("id,email,active,roles"), `CSV header: ${lines[0]}`).toBe(true);
  expect(lines.length === 11 && lines.slice(1).every((l) => l.includes(`bulk-${stamp}`)), `CSV ignores the filter: ${lines.length - 1} rows: ${lines.slice(0, 4).join(" / ")}`).toBe(true);
  await checkA11y(page, "users-filtered");
});

