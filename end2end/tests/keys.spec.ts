import { test, expect, login, hydrated, unique } from "./helpers";

test("an admin creates a key (shown once), sees it listed without the key, and revokes it", async ({ page, request }) => {
  const name = `ci-${unique()}`;
  await login(page, "admin", "nofx-admin-demo");
  await page.getByRole("link", { name: "Keys", exact: true }).click();
  await expect(page).toHaveURL(/\/keys$/);
  await hydrated(page);
  const form = page.getByTestId("new-key");
  await form.getByLabel("Name").fill(name);
  await form.getByLabel("Role").selectOption("viewer");
  await form.getByLabel("Expires after (days)").fill("30");
  await form.getByTestId("create-key").click();
  const shown = page.getByTestId("created-key-value");
  await expect(shown).toHaveText(/^nofx_[A-Za-z0-9]{40}$/);
  const key = (await shown.textContent())!;
  const row = page.locator(`[data-testid=key][data-name="${name}"]`);
  await expect(row.getByTestId("key-status")).toHaveAttribute("data-value", "active");
  await expect(row).toContainText("expires");
  expect(await page.getByTestId("keys").innerText()).not.toContain(key);
  expect((await request.get("/api/items", { headers: { Authorization: `Bearer ${key}` } })).status()).toBe(200);

  await row.getByTestId("revoke-key").locator("summary").click();
  await row.getByTestId("confirm-revoke-key").click();
  await expect(row.getByTestId("key-status")).toHaveAttribute("data-value", "revoked");
  expect((await request.get("/api/items", { headers: { Authorization: `Bearer ${key}` } })).status()).toBe(401);
});
