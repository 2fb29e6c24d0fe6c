import { Page, TestInfo } from "@playwright/test";
import { test, expect, login, hydrated } from "./helpers";

/** Ticks the backlog rows whose titles contain each text. */
async function tick(page: Page, titles: string[]) {
  for (const title of titles) {
    await page.getByTestId("item-row").filter({ hasText: title }).locator('input[name="item_ids[]"]').check();
  }
}

// Independent work in three packs, some of it sensitive or for production: the strategies differ.
const ITEMS = [
  "Move authorisation checks into one policy module",
  "Invoice line items table with tax breakdown",
  "Staging parity with production config",
  "Runbooks for every production deploy",
  "Feature flag service for gradual rollouts",
];

async function fitsWidth(page: Page) {
  const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  expect(scroll, `${page.url()} is ${scroll} px wide`).toBeLessThanOrEqual(inner);
}

/** Checks the page fits a laptop and a phone without sideways scrolling, with a screenshot at each. */
async function atBothSizes(page: Page, testInfo: TestInfo, name: string) {
  for (const [width, height] of [[1440, 900], [390, 844]]) {
    await page.setViewportSize({ width, height });
    await fitsWidth(page);
    await page.screenshot({ path: testInfo.outputPath(`${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1440, height: 900 });
}

test("compare the planners side by side, keep one, land on its plan", async ({ page }, testInfo) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await login(page);
  await page.goto("/backlog");
  await hydrated(page);
  await tick(page, ITEMS);
  await page.getByTestId("compare-selected").click();
  await expect(page).toHaveURL(/\/comparisons\/\d+$/);
  await expect(page.getByRole("heading", { name: /^Comparison #\d+$/ })).toBeVisible();

  // The four built-in strategies, each valid, scored, with its figures and a small graph.
  const cards = page.getByTestId("candidate");
  await expect(cards).toHaveCount(4);
  await expect(cards.locator("h2")).toHaveText(["waves", "critical-path", "risk-averse", "pack-grouped"]);
  for (const card of await cards.all()) {
    await expect(card.getByTestId("candidate-status")).toHaveText("valid");
    await expect(card.getByTestId("score")).toHaveText(/^\d+\.\d \/ 100$/);
    await expect(card.getByTestId("verdict-counts")).toContainText("allow");
    await expect(card.getByTestId("wave-strip").locator("svg rect").first()).toBeVisible();
  }
  // The strategies really plan differently: their steps-and-waves figures are not all the same.
  const shapes = await cards.evaluateAll((els) => els.map((e) => e.querySelector("[data-testid=wave-strip] svg")?.getAttribute("aria-label")));
  expect(new Set(shapes).size, shapes.join(" | ")).toBeGreaterThan(1);
  // Side by side on a laptop: the first two cards share a row.
  const [a, b] = [await cards.nth(0).boundingBox(), await cards.nth(1).boundingBox()];
  expect(Math.abs(a!.y - b!.y)).toBeLessThan(2);
  await expect(page.getByTestId("best")).toHaveCount(1);
  await expect(page.getByTestId("comparison-standing")).toContainText("4 of 4 candidates are valid");
  await atBothSizes(page, testInfo, "comparison");

  // Look at the critical-path candidate (whatever scored best) in full: its whole graph, a
  // step's details in the drawer; then keep it from there: its plan opens.
  const url = page.url();
  await cards.filter({ has: page.locator("h2", { hasText: "critical-path" }) }).getByTestId("open-candidate").click();
  await expect(page).toHaveURL(/\/comparisons\/\d+\/candidates\/1$/);
  await expect(page.getByRole("heading", { name: "critical-path" })).toBeVisible();
  await expect(page.getByTestId("gate-cards").locator("[data-testid^=gate-]")).toHaveCount(4);
  const steps = page.getByTestId("graph-frame").locator("a[data-step]");
  expect(await steps.count()).toBeGreaterThanOrEqual(ITEMS.length);
  await steps.first().click();
  await expect(page.getByTestId("step-drawer")).toBeVisible();
  await expect(page.getByTestId("step-token")).not.toBeEmpty();
  await page.getByTestId("close-step").click();
  await expect(page.getByTestId("step-drawer")).toHaveCount(0);
  await atBothSizes(page, testInfo, "candidate");
  await page.getByTestId("keep").click();
  await expect(page).toHaveURL(/\/plans\/\d+$/);
  await expect(page.getByRole("heading", { name: /^Plan #\d+$/ })).toBeVisible();
  await expect(page.getByText("nofx/critical-path").first()).toBeVisible();
  const planId = page.url().match(/\/plans\/(\d+)$/)![1];
  // The plan says where it came from.
  await expect(page.getByTestId("kept-from")).toHaveAttribute("href", new URL(url).pathname);

  // The comparison now says which one was kept, and offers no second choice.
  await page.goto(url);
  await expect(page.getByTestId("comparison-standing")).toContainText(`was kept as plan #${planId}`);
  await expect(page.getByTestId("kept")).toHaveCount(1);
  await expect(page.getByTestId("keep")).toHaveCount(0);

  // The planner metrics count it.
  await page.getByRole("link", { name: "Planner metrics" }).click();
  await expect(page).toHaveURL(/\/planner-metrics$/);
  await expect(page.getByTestId("provider-row")).toHaveCount(4);
  await expect(page.getByTestId("provider-row").filter({ hasText: "critical-path" })).toBeVisible();
  await expect(page.getByTestId("metrics-charts").locator("svg.chart")).toHaveCount(5);
  // The trend follows one figure at a time over the days, chosen by a link.
  const trend = page.getByTestId("trend-figures");
  await expect(trend.getByRole("link", { name: "Mean score" })).toHaveAttribute("aria-current", "true");
  await trend.getByRole("link", { name: "Latency p95" }).click();
  await expect(page).toHaveURL(/\?trend=latency_p95$/);
  await expect(page.getByTestId("metrics-charts").locator("svg.chart[aria-label^='Latency p95 per day']")).toHaveCount(1);
  await expect(trend.getByRole("link", { name: "Latency p95" })).toHaveAttribute("aria-current", "true");
  await atBothSizes(page, testInfo, "planner-metrics");
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("Compare planners and Keep this plan work as plain HTML forms", async ({ page }) => {
    await login(page, "planner", "nofx-planner-demo", false);
    await page.goto("/backlog");
    await tick(page, ITEMS.slice(2));
    await page.getByTestId("compare-selected").click();
    await expect(page).toHaveURL(/\/comparisons\/\d+$/);
    await expect(page.getByTestId("candidate")).toHaveCount(4);
    await page.getByTestId("candidate").filter({ has: page.getByTestId("best") }).getByTestId("keep").click();
    await expect(page).toHaveURL(/\/plans\/\d+$/);
    await expect(page.getByTestId("plan-graph")).toBeVisible();
  });

  test("comparing nothing says so in place", async ({ page }) => {
    await login(page, "planner", "nofx-planner-demo", false);
    await page.goto("/backlog");
    await page.getByTestId("compare-selected").click();
    await expect(page).toHaveURL(/\/backlog/);
    await expect(page.getByTestId("form-error")).toContainText("Tick at least one item, then press Compare planners.");
  });
});
