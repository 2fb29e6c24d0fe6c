import { APIRequestContext } from "@playwright/test";
import * as fs from "fs";
import { test, expect, login, hydrated, unique } from "./helpers";

// An admin key made by scripts/test (`nofx api-key create`).
const ADMIN = { Authorization: `Bearer ${process.env.E2E_ADMIN_KEY ?? ""}` };

/** A fresh pack with one item, planned with a one-cent budget: the resource gate blocks it. */
async function blockedPlan(request: APIRequestContext) {
  const u = unique();
  const post = async (path: string, data: object) => {
    const res = await request.post(path, { headers: ADMIN, data });
    expect(res.status(), `${path}: ${await res.text()}`).toBeLessThan(300);
    return res.json();
  };
  const pack = await post("/api/packs", { name: `Override ${u}` });
  const item = await post("/api/items", { pack_id: pack.id, title: `Warm the caches ${u}`, tools: ["codegen"], risk: "low" });
  const plan = await post("/api/auto-planner/plan", { item_ids: [item.id], budget_usd: 0.01 });
  expect(plan.status).toBe("blocked");
  return { pack, item, plan };
}

test("an admin overrides a blocked plan from its page, sees the banner, and finds it in Audit", async ({ page, request }) => {
  const { pack, plan } = await blockedPlan(request);
  await login(page, "admin", "nofx-admin-demo");
  await page.goto(`/plans/${plan.id}`);
  await hydrated(page);
  await expect(page.getByTestId("blocked-panel")).toContainText(/resource/i);

  const form = page.getByTestId("override-form");
  await form.locator("summary").click();
  await form.getByTestId("override-target").selectOption("plan:resource");
  await form.getByTestId("override-justification").fill("Finance approved the spend for this release (ticket FIN-2231).");
  await form.getByTestId("override-expiry").selectOption("240");
  await page.screenshot({ path: "artifacts/override-form.png", fullPage: true });
  await form.getByTestId("submit-override").click();

  // In force: the page says so without a reload, with who, why and until when.
  await expect(page.getByTestId("override-banner")).toContainText("Ready only because of overrides");
  await expect(page.getByTestId("plan-status")).toHaveText("ready");
  await expect(page.getByTestId("blocked-panel")).toHaveCount(0);
  const live = page.getByTestId("live-overrides").getByTestId("override");
  await expect(live).toHaveCount(1);
  await expect(live).toHaveAttribute("data-status", "active");
  await expect(live).toContainText("admin");
  await expect(live).toContainText("the resource gate's verdict on the plan");
  await expect(live.getByTestId("override-justification-text")).toHaveText("Finance approved the spend for this release (ticket FIN-2231).");
  await expect(page.getByTestId("execute-panel")).toBeVisible();
  await expect(page.getByTestId("audit-trail")).toContainText("override.created");
  await page.screenshot({ path: "artifacts/override-banner.png", fullPage: true });

  // Audit: filter by the pack; the plan and the override are there, newest first.
  await page.getByRole("link", { name: "Audit", exact: true }).click();
  await expect(page).toHaveURL(/\/audit$/);
  await hydrated(page);
  await page.getByLabel("Pack").selectOption({ label: pack.name });
  await page.getByTestId("apply-filters").click();
  await expect(page).toHaveURL(new RegExp(`pack=${pack.id}`));
  const records = page.getByTestId("audit-record");
  await expect(records.first()).toHaveAttribute("data-action", "override.created");
  for (const action of ["pack.created", "item.created", "plan.created", "override.created"]) {
    await expect(page.locator(`[data-testid=audit-record][data-action="${action}"]`)).toHaveCount(1);
  }
  await expect(records.first().getByRole("link", { name: `plan #${plan.id}` })).toBeVisible();
  await expect(page.getByTestId("export")).toHaveText("Export these records (JSON Lines)");
  await page.getByTestId("verify-chain").click();
  await expect(page.getByTestId("chain-status")).toHaveAttribute("data-value", "intact", { timeout: 30_000 });
  await page.screenshot({ path: "artifacts/audit-filtered.png", fullPage: true });

  // Export the filtered records as JSON Lines.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export").click()]);
  expect(download.suggestedFilename()).toBe("nofx-audit.jsonl");
  const lines = fs.readFileSync((await download.path())!, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  expect(lines.map((r) => r.action)).toEqual(["pack.created", "item.created", "plan.created", "override.created"]);
  expect(lines.every((r) => r.links.packs.includes(pack.id) && /^[0-9a-f]{64}$/.test(r.hash))).toBe(true);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("override and revoke work as plain HTML forms", async ({ page, request }) => {
    const { plan } = await blockedPlan(request);
    await login(page, "admin", "nofx-admin-demo", false);
    await page.goto(`/plans/${plan.id}`);
    const form = page.getByTestId("override-form");
    await form.locator("summary").click();
    await form.getByTestId("override-target").selectOption("plan:resource");
    await form.getByTestId("override-justification").fill("Budget raised for the load test by the platform lead.");
    await form.getByTestId("submit-override").click();
    await expect(page).toHaveURL(new RegExp(`/plans/${plan.id}$`));
    await expect(page.getByTestId("plan-status")).toHaveText("ready");
    const revoke = page.getByTestId("revoke");
    await revoke.locator("summary").click();
    await revoke.getByLabel(/Why/).fill("The load test was called off.");
    await revoke.getByTestId("confirm-revoke").click();
    await expect(page).toHaveURL(new RegExp(`/plans/${plan.id}$`));
    await expect(page.getByTestId("plan-status")).toHaveText("blocked");
    await expect(page.getByTestId("blocked-panel")).toBeVisible();
  });
});
