// API keys: shown once with a copy button, rotated, revoked (each checked against the API
// with X-API-Key), and the dialog with the secret that only "I have copied it" closes.
import { expect, navLink, shot, sleep, test } from "./fixtures.js";

test("API key is shown once with a copy button, and revoking it works", async ({ adminPage: admin, web, checkA11y }) => {
  await navLink(admin, "API keys").click();
  await admin.getByRole("button", { name: "New API key" }).click();
  const dialog = admin.getByRole("dialog", { name: "Create API key" });
  await dialog.getByLabel("Name").fill("e2e-key");
  await dialog.getByRole("checkbox", { name: /stats:read/ }).check();
  await dialog.getByRole("button", { name: "Create key" }).click();
  const reveal = admin.getByRole("dialog", { name: "Your new API key" });
  const key = await reveal.getByTestId("new-api-key").inputValue();
  expect(key.length, "no key shown").toBeGreaterThan(16);
  await reveal.getByRole("button", { name: "Copy" }).waitFor();
  await shot(admin, "apikey-created");
  await reveal.getByRole("button", { name: "I have copied it" }).click();
  await admin.getByRole("cell", { name: "e2e-key", exact: true }).waitFor();
  expect((await admin.content()).includes(key), "the key is still on the page after closing").toBe(false);
  const use = () => fetch(`${web}/api/v1/auth/me`, { headers: { "X-API-Key": key } }).then((r) => r.status);
  expect(await use(), "the new key does not authenticate").toBe(200);
  await shot(admin, "apikeys");
  await checkA11y(admin, "apikeys");
  // Rotate: a new secret shown once, the old one dead at once.
  await admin.getByRole("button", { name: "Rotate e2e-key" }).click();
  await admin.getByRole("dialog", { name: "Rotate API key" }).getByRole("button", { name: "Rotate" }).click();
  const rotated = await admin.getByRole("dialog", { name: "Your new API key" }).getByTestId("new-api-key").inputValue();
  await admin.getByRole("dialog", { name: "Your new API key" }).getByRole("button", { name: "I have copied it" }).click();
  expect(rotated.length > 16 && rotated !== key, "rotation did not show a new key").toBe(true);
  expect(await use(), "the rotated-away key still authenticates").toBe(401);
  const useRotated = () => fetch(`${web}/api/v1/auth/me`, { headers: { "X-API-Key": rotated } }).then((r) => r.status);
  expect(await useRotated(), "the rotated key does not authenticate").toBe(200);
  await admin.getByRole("button", { name: "Revoke e2e-key" }).click();
  await admin.getByRole("dialog", { name: "Revoke API key" }).getByRole("button", { name: "Revoke" }).click();
  await admin.getByRole("cell", { name: "e2e-key", exact: true }).waitFor({ state: "detached" });
  expect(await useRotated(), "the revoked key still authenticates").toBe(401);
});

test("API key shown once: Escape and a click outside keep the secret on screen; only “I have copied it” closes it", async ({ adminPage: page, web, checkA11y }) => {
  await page.goto(`${web}/api-keys`);
  await page.getByRole("button", { name: "New API key" }).click();
  const create = page.getByRole("dialog", { name: "Create API key" });
  await create.getByLabel("Name").fill("shown-once-e2e");
  await create.getByRole("checkbox", { name: /stats:read/ }).check();
  await create.getByRole("button", { name: "Create key" }).click();
  const reveal = page.getByRole("dialog", { name: "Your new API key" });
  const secret = await reveal.getByTestId("new-api-key").inputValue();
  // Each attempt to close gets a moment to take effect before the dialog is looked at.
  await page.keyboard.press("Escape");
  await sleep(200);
  await page.keyboard.press("Escape"); // Chromium lets a second Escape force a close
  await sleep(200);
  await page.mouse.click(5, 5); // the backdrop
  await sleep(200);
  expect(await reveal.isVisible(), "the dialog with the secret closed").toBe(true);
  expect(await reveal.getByTestId("new-api-key").inputValue(), "the secret changed").toBe(secret);
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
  expect(!text.includes("No API keys yet") && text.includes("revoked key"), `empty table says: ${text}`).toBe(true);
});
