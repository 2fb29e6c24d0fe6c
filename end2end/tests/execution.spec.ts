import { Browser } from "@playwright/test";
import { test, expect, login, hydrated } from "./helpers";

/** A reviewer in a browser of their own, approving one request from its page. */
async function approveAsReviewer(browser: Browser, approvalPath: string, comment: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await login(page, "reviewer", "nofx-reviewer-demo");
  await page.goto(approvalPath);
  await hydrated(page);
  await page.getByLabel(/^Comment/).first().fill(comment);
  await page.getByTestId("approve").click();
  await expect(page).toHaveURL(/\/approvals\?decided=/);
  await context.close();
}

test("a planner executes a plan; reviewers approve it and its sensitive step; it turns green live", async ({ page, browser }) => {
  await login(page);
  await page.goto("/backlog");
  await hydrated(page);
  await page.getByTestId("item-row").filter({ hasText: "Deep health checks for every service" }).locator('input[name="item_ids[]"]').check();
  await page.getByTestId("plan-selected").click();
  await expect(page).toHaveURL(/\/plans\/\d+$/);
  await hydrated(page);
  await expect(page.getByTestId("live")).toHaveAttribute("data-live", "true");

  // git_pr is sensitive, so a verdict warns: the plan first waits for a plan approval.
  await expect(page.getByTestId("execute-panel")).toContainText("plan approval");
  await page.getByTestId("execute").click();
  const run = page.getByTestId("run-panel");
  await expect(run).toHaveAttribute("data-status", "awaiting_approval");
  await expect(page.getByTestId("run-summary")).toContainText("Waiting for reviewers to approve the plan");
  await page.screenshot({ path: "artifacts/run-awaiting.png", fullPage: true });
  const planApproval = await run.getByRole("link", { name: /plan approval #\d+/ }).getAttribute("href");
  await approveAsReviewer(browser, planApproval!, "Health checks are safe");

  // No reload from here: the run starts, the worker runs the first steps, git_pr waits.
  await expect(run).toHaveAttribute("data-status", "running");
  const waiting = page.locator('[data-testid=run-step][data-state="waiting_approval"]');
  await expect(waiting).toHaveCount(1, { timeout: 30_000 });
  await expect(waiting).toContainText("git_pr");
  await expect(page.getByTestId("plan-graph").locator('a[data-state="waiting_approval"]')).toHaveCount(1);
  await page.screenshot({ path: "artifacts/run-waiting.png", fullPage: true });
  const stepApproval = await waiting.getByRole("link", { name: /approval #\d+/ }).getAttribute("href");
  await approveAsReviewer(browser, stepApproval!, "PR looks fine");

  await expect(run).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
  await expect(page.getByTestId("run-summary")).toHaveText("Succeeded: all 3 steps ran.");
  const nodes = page.getByTestId("plan-graph").locator("a[data-step]");
  await expect(nodes).toHaveCount(3);
  await expect(page.getByTestId("plan-graph").locator('a[data-state="succeeded"]')).toHaveCount(3);
  await expect(page.getByTestId("run-timeline").getByTestId("attempt")).toHaveCount(3);
  await page.screenshot({ path: "artifacts/run-succeeded.png", fullPage: true });
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("Execute works as a plain HTML form", async ({ page }) => {
    await login(page, "planner", "nofx-planner-demo", false);
    await page.goto("/backlog");
    await page.getByTestId("item-row").filter({ hasText: "Staging parity with production config" }).locator('input[name="item_ids[]"]').check();
    await page.getByTestId("plan-selected").click();
    await expect(page).toHaveURL(/\/plans\/\d+$/);
    await expect(page.getByTestId("execute-panel")).toContainText("Every verdict allows");
    await page.getByTestId("execute").click();
    await expect(page).toHaveURL(/\/plans\/\d+$/);
    // Every verdict allows: it starts at once (and the worker may have finished it already).
    await expect(page.getByTestId("run-panel")).toHaveAttribute("data-status", /running|succeeded/);
    await expect(page.getByTestId("execute")).toHaveCount(0);
  });
});
