import { test, expect, login, hydrated, unique } from "./helpers";

test("signed-out visitors are sent to the login page and come back after signing in", async ({ page }) => {
  await page.goto("/packs");
  await expect(page).toHaveURL(/\/login\?next=\/packs/);
  await hydrated(page);
  await page.getByLabel("Username").fill("planner");
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("form-error")).toContainText("do not match");
  await page.getByLabel("Password").fill("nofx-planner-demo");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/packs$/);
  await expect(page.getByRole("heading", { name: "Packs" })).toBeVisible();
});

test("the demo backlog renders with flags, filters and a screenshot", async ({ page }) => {
  await login(page);
  await page.goto("/backlog");
  await hydrated(page);
  await expect(page.getByTestId("flag-FEATURE_AUTO_PLANNER")).toContainText("on");
  await expect(page.getByTestId("flag-FEATURE_PLANNER_EXECUTE")).toContainText("on");
  const rows = page.getByTestId("item-row");
  expect(await rows.count()).toBeGreaterThanOrEqual(25);
  await page.screenshot({ path: "artifacts/backlog.png", fullPage: true });

  await page.locator("#f-label").selectOption("pii");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/label=pii/);
  await expect(page.getByTestId("count")).toContainText(/^\d+ of \d+ items$/);
  const filtered = await rows.count();
  expect(filtered).toBeGreaterThan(0);
  expect(filtered).toBeLessThan(25);
  for (const row of await rows.all()) await expect(row).toContainText("#pii");
});

test("create a pack and two dependent items through the forms (JavaScript on)", async ({ page }) => {
  await login(page);
  const name = `Pack ${unique()}`;
  await page.goto("/packs");
  await hydrated(page);
  await page.getByLabel("Name").fill(name);
  await page.getByTestId("create-pack").click();
  await expect(page.getByTestId("pack-list")).toContainText(name);

  await page.getByTestId("pack-list").locator("li", { hasText: name }).getByRole("link", { name: "+ item" }).click();
  await hydrated(page);
  await page.getByLabel("Title", { exact: true }).fill(`Schema for ${name}`);
  await page.getByLabel("Tools, in the order they run").fill("codegen, db_migrate, git_pr");
  await page.getByLabel("Labels").fill("pii");
  await page.getByTestId("save-item").click();
  await expect(page.getByRole("heading", { name: `Schema for ${name}` })).toBeVisible();
  const firstUrl = page.url();
  const firstId = firstUrl.split("/").pop()!;

  await page.goto(`/backlog/new`);
  await hydrated(page);
  await page.getByLabel("Title", { exact: true }).fill(`API for ${name}`);
  await page.getByLabel("Pack", { exact: true }).selectOption({ label: name });
  await page.getByLabel("Tools, in the order they run").fill("codegen, gate:unit, git_pr");
  await page.locator(`#dep-${firstId}`).check();
  await page.getByTestId("save-item").click();
  await expect(page.getByRole("heading", { name: `API for ${name}` })).toBeVisible();
  await expect(page.getByTestId("dependencies")).toContainText(`Schema for ${name}`);

  await page.goto(firstUrl);
  await expect(page.getByTestId("dependents")).toContainText(`API for ${name}`);

  await page.goto("/backlog");
  await hydrated(page);
  await page.locator("#f-q").fill(name);
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByTestId("item-row")).toHaveCount(2);
  await expect(page.getByTestId("backlog-table")).toContainText(`#${firstId}`);
});

test("a server-side validation error is shown in place on the form", async ({ page }) => {
  await login(page);
  await page.goto("/backlog/new");
  await hydrated(page);
  await page.getByLabel("Title", { exact: true }).fill("Uses a tool that does not exist");
  await page.getByLabel("Tools, in the order they run").fill("codegen, teleport");
  await page.getByTestId("save-item").click();
  await expect(page.getByTestId("form-error")).toContainText("`teleport`");
  await expect(page).toHaveURL(/\/backlog\/new/);
  // The form comes back as it was typed: the title, and the tools as chips with the unknown one flagged.
  await expect(page.getByLabel("Title", { exact: true })).toHaveValue("Uses a tool that does not exist");
  await expect(page.getByLabel("Tools, in the order they run")).toHaveValue("codegen, teleport");
  await expect(page.getByTestId("tool-chip").filter({ hasText: "teleport" })).toHaveAttribute("data-known", "false");
  // The address does not keep the one-off error: a reload shows a clean form.
  expect(page.url()).not.toContain("form_error");
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the same forms work as plain HTML", async ({ page }) => {
    await login(page, "planner", "nofx-planner-demo", false);
    const name = `NoJS ${unique()}`;
    await page.goto("/packs");
    await page.getByLabel("Name").fill(name);
    await page.getByTestId("create-pack").click();
    await expect(page.getByTestId("pack-list")).toContainText(name);

    await page.goto("/backlog/new");
    await page.getByLabel("Title", { exact: true }).fill(`First ${name}`);
    await page.getByLabel("Pack", { exact: true }).selectOption({ label: name });
    await page.getByTestId("save-item").click();
    await expect(page.getByRole("heading", { name: `First ${name}` })).toBeVisible();
    const firstId = page.url().split("/").pop()!;

    await page.goto("/backlog/new");
    await page.getByLabel("Title", { exact: true }).fill(`Second ${name}`);
    await page.getByLabel("Pack", { exact: true }).selectOption({ label: name });
    await page.locator(`#dep-${firstId}`).check();
    await page.getByTestId("save-item").click();
    await expect(page.getByTestId("dependencies")).toContainText(`First ${name}`);

    await page.goto("/backlog/new");
    await page.getByLabel("Title", { exact: true }).fill(`Broken ${name}`);
    await page.getByLabel("Tools, in the order they run").fill("teleport");
    await page.getByTestId("save-item").click();
    await expect(page.getByTestId("form-error")).toContainText("`teleport`");
  });
});

test("the item form's pickers: tool chips with suggestions and an unknown tool flagged as you type; dependencies searchable as chips", async ({ page }) => {
  await login(page);
  await page.goto("/backlog/new");
  await hydrated(page);
  const tools = page.getByLabel("Tools, in the order they run");
  await tools.fill("codegen, gate:unt");
  await expect(page.getByTestId("tool-chip")).toHaveCount(2);
  await expect(page.getByTestId("unknown-tools")).toHaveText(/Not a registered tool: gate:unt\./);
  await expect(page.locator('[data-testid=tool-chip][data-known=false]')).toContainText("gate:unt");
  // Remove the typo, then type the start of a tool and pick the suggestion.
  await page.getByRole("button", { name: "Remove gate:unt" }).click();
  await expect(tools).toHaveValue("codegen");
  await tools.fill("codegen, git");
  await page.getByTestId("tool-suggestions").getByRole("button", { name: "git_pr" }).click();
  await expect(tools).toHaveValue("codegen, git_pr, ");
  await expect(page.getByTestId("unknown-tools")).toHaveCount(0);

  // Dependencies: search, tick, see the chip; × unticks.
  await page.getByTestId("dependency-search").fill("stripe");
  const visible = page.getByTestId("dependency-picker").locator("label:visible");
  await expect(visible).toHaveCount(1);
  await visible.locator("input").check();
  await expect(page.getByTestId("dependency-chip")).toContainText("Verify Stripe webhook signatures");
  await page.getByTestId("dependency-search").fill("");
  await page.getByTestId("dependency-chip").getByRole("button").click();
  await expect(page.getByTestId("dependency-chip")).toHaveCount(0);
  await expect(page.getByTestId("dependency-picker").locator("input:checked")).toHaveCount(0);

  // Saved as typed: the form fields are the source of truth.
  await page.getByLabel("Title", { exact: true }).fill(`Picker ${unique()}`);
  await page.getByTestId("dependency-search").fill("#9");
  await page.getByTestId("dependency-picker").locator("label:visible input").check();
  await page.getByTestId("save-item").click();
  await expect(page.getByTestId("dependencies")).toContainText("Verify Stripe webhook signatures");
  await page.getByRole("link", { name: "Edit" }).click();
  await hydrated(page);
  // On edit the ticked dependency comes first, in sight.
  await expect(page.getByTestId("dependency-picker").locator("label").first().locator("input")).toBeChecked();
  await expect(page.getByTestId("dependency-chip")).toHaveCount(1);
});
