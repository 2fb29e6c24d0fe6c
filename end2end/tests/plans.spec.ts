import { Page } from "@playwright/test";
import { test, expect, login, hydrated } from "./helpers";

/** Ticks the backlog rows whose titles contain each text (the backlog shows all demo items). */
async function tick(page: Page, titles: string[]) {
  for (const title of titles) {
    await page.getByTestId("item-row").filter({ hasText: title }).locator('input[name="item_ids[]"]').check();
  }
}

test("select items, plan them, read the graph and a step's verdicts", async ({ page }) => {
  await login(page);
  await page.goto("/backlog");
  await hydrated(page);
  await tick(page, ["Move authorisation checks into one policy module", "Rotate session signing keys without logouts"]);
  await page.getByTestId("plan-selected").click();
  await expect(page).toHaveURL(/\/plans\/\d+$/);
  await expect(page.getByRole("heading", { name: /^Plan #\d+$/ })).toBeVisible();

  // authz has 5 tools, sessions 4: nine steps, every one coloured by its worst verdict.
  const graph = page.getByTestId("plan-graph");
  await expect(graph).toBeVisible();
  const steps = graph.locator("a[data-step]");
  await expect(steps).toHaveCount(9);
  // The stylesheet colours each box by its verdict (classes, not per-box colours).
  const fills: Record<string, string> = { allow: "rgb(236, 253, 245)", warn: "rgb(255, 251, 235)", block: "rgb(255, 241, 242)" };
  const boxes = await steps.evaluateAll((els) =>
    els.map((e) => ({ verdict: e.getAttribute("data-verdict") ?? "", fill: getComputedStyle(e.querySelector("rect")!).fill })),
  );
  for (const { verdict, fill } of boxes) {
    expect(Object.keys(fills)).toContain(verdict);
    expect(fill).toBe(fills[verdict]);
  }
  await expect(page.getByTestId("gate-cards").locator("[data-testid^=gate-]")).toHaveCount(4);
  await page.screenshot({ path: "artifacts/plan.png", fullPage: true });

  // The sensitive git_pr step of the sessions item: its panel shows token, rollback and four gates.
  await steps.filter({ hasText: "git_pr" }).last().click();
  await expect(page).toHaveURL(/step=s\d+-4/);
  const panel = page.getByTestId("step-panel");
  await expect(panel).toContainText("git_pr");
  await expect(page.getByTestId("step-token")).toHaveText(/^[0-9a-f]{32}$/);
  await expect(page.getByTestId("step-rollback")).toContainText("Close the pull request");
  await expect(page.getByTestId("step-verdicts").locator("li[data-gate]")).toHaveCount(4);
  await expect(page.getByTestId("step-verdicts").locator('li[data-gate="risk"]')).toContainText("approval");
  await page.screenshot({ path: "artifacts/plan-step.png", fullPage: true });
});

test("a blocked plan says why and what to change", async ({ page }) => {
  await login(page);
  await page.goto("/backlog");
  await hydrated(page);
  // The gateway rollout waits on unfinished items that are not selected.
  await tick(page, ["Roll the new gateway out to production"]);
  await page.getByTestId("plan-selected").click();
  await expect(page).toHaveURL(/\/plans\/\d+$/);
  await expect(page.getByTestId("plan-status")).toHaveText("blocked");
  const panel = page.getByTestId("blocked-panel");
  await expect(panel).toContainText("This plan is blocked");
  await expect(panel).toContainText(/structural/i);
  await expect(panel.getByTestId("remediation").first()).toContainText("include_dependencies");
  await expect(page.getByTestId("verdict-table").locator('[data-value="block"]').first()).toBeVisible();
  await page.screenshot({ path: "artifacts/plan-blocked.png", fullPage: true });
});

test("Plan selected waits for a ticked item, and a planning error shows in place", async ({ page }) => {
  await login(page);
  await page.goto("/backlog");
  await hydrated(page);
  await expect(page.getByTestId("plan-selected")).toBeDisabled();
  await page.locator("[data-testid=select-item]:not([disabled])").first().check();
  await page.getByTestId("plan-toolbar").getByPlaceholder("policy default").fill("a lot");
  await page.getByTestId("plan-selected").click();
  await expect(page.getByTestId("plan-toolbar").getByTestId("form-error")).toContainText("The budget must be a number of dollars");
  await expect(page).toHaveURL(/\/backlog/);
});

test("the plans list updates live when a plan is stored elsewhere", async ({ context }) => {
  const watcher = await context.newPage();
  await login(watcher);
  await watcher.goto("/plans");
  await hydrated(watcher);
  await expect(watcher.getByTestId("live")).toHaveAttribute("data-live", "true");
  const before = await watcher.getByTestId("plan-row").count();

  const planner = await context.newPage();
  await planner.goto("/backlog");
  await hydrated(planner);
  await tick(planner, ["Deep health checks for every service"]);
  await planner.getByTestId("plan-selected").click();
  await expect(planner).toHaveURL(/\/plans\/\d+$/);

  // No reload on the watcher: the row arrives through the event stream.
  await expect(watcher.getByTestId("plan-row")).toHaveCount(before + 1);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the plan form works as a plain HTML form", async ({ page }) => {
    await login(page, "planner", "nofx-planner-demo", false);
    await page.goto("/backlog");
    await tick(page, ["SLO dashboards and burn-rate alerts"]);
    await page.locator('input[name="include_dependencies"]').check();
    await page.getByTestId("plan-selected").click();
    await expect(page).toHaveURL(/\/plans\/\d+$/);
    await expect(page.getByTestId("plan-graph")).toBeVisible();
    // Step links are plain links: the panel opens without scripts too.
    await page.getByTestId("plan-graph").locator("a[data-step]").first().click();
    await expect(page.getByTestId("step-panel")).toBeVisible();
  });
});
