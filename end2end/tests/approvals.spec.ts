import { APIRequestContext } from "@playwright/test";
import { test, expect, login, hydrated } from "./helpers";

// An automation key made by scripts/test (`nofx api-key create --role automation`).
const KEY = process.env.E2E_AUTOMATION_KEY ?? "";
const auth = { Authorization: `Bearer ${KEY}` };

async function requestApproval(request: APIRequestContext, tool: string, args: object): Promise<number> {
  const res = await request.post("/api/approvals", { headers: auth, data: { tool_id: tool, args, context: { why: "e2e" } } });
  expect(res.status(), await res.text()).toBe(201);
  return (await res.json()).id;
}

test.beforeAll(() => {
  expect(KEY, "E2E_AUTOMATION_KEY must be set (scripts/test does)").not.toBe("");
});

test("a request appears in the inbox live; approving wakes the API waiter with the comment", async ({ page, request }) => {
  await login(page, "reviewer", "nofx-reviewer-demo");
  await page.goto("/approvals");
  await hydrated(page);
  await expect(page.getByTestId("live")).toHaveAttribute("data-live", "true");

  const id = await requestApproval(request, "git_pr", { repo: "nofx/e2e", branch: "feat/<b>live</b>" });
  // No reload: the row arrives through the event stream.
  const row = page.locator(`[data-testid=inbox-row][data-id="${id}"]`);
  await expect(row).toBeVisible();
  await expect(row).toContainText("key:");
  await expect(row.getByTestId("time-left")).toContainText("left");
  await page.screenshot({ path: "artifacts/approvals.png", fullPage: true });

  const waiting = request.get(`/api/approvals/${id}/wait?timeout_s=60`, { headers: auth });
  await row.getByRole("link", { name: "Review" }).click();
  await expect(page).toHaveURL(new RegExp(`/approvals/${id}$`));
  await expect(page.getByTestId("args")).toContainText('"branch": "feat/<b>live</b>"');
  await page.screenshot({ path: "artifacts/approval.png", fullPage: true });
  await page.getByLabel(/^Comment/).first().fill("Ship it after lunch");
  await page.getByTestId("approve").click();
  await expect(page).toHaveURL(new RegExp(`/approvals\\?decided=${id}$`));
  await expect(page.getByTestId("decided-note")).toBeVisible();
  await expect(page.locator(`[data-testid=inbox-row][data-id="${id}"]`)).toHaveCount(0);

  const res = await waiting;
  expect(res.status()).toBe(200);
  const decided = await res.json();
  expect(decided.status).toBe("approved");
  expect(decided.go_ahead).toBe(true);
  expect(decided.log.at(-1)).toMatchObject({ kind: "approve", note: "Ship it after lunch", actor: "user:reviewer" });
});

test("deny without a reason shows the error in place; with one it denies", async ({ page, request }) => {
  const id = await requestApproval(request, "db_write", { statement: "DELETE FROM t" });
  await login(page, "reviewer", "nofx-reviewer-demo");
  await page.goto(`/approvals/${id}`);
  await hydrated(page);
  await page.getByTestId("deny").click();
  await expect(page.getByTestId("form-error")).toContainText("Say why you deny it");
  await expect(page.getByTestId("approval-status")).toHaveText("pending");

  await page.getByLabel(/^Comment/).first().fill("Take a backup first");
  await page.getByTestId("deny").click();
  await expect(page).toHaveURL(/\/approvals\?decided=/);
  await page.goto("/approvals/history?status=denied");
  const row = page.getByTestId("history-row").filter({ hasText: "Take a backup first" });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText("user:reviewer");
});

test("a vote elsewhere refreshes the request in place and keeps what the reviewer is typing", async ({ page, request }) => {
  // db_migrate needs two approvals in the demo; an admin casts the first one over the API.
  const id = await requestApproval(request, "db_migrate", { database: "orders-prod", migration: "m_live_keep" });
  await login(page, "reviewer", "nofx-reviewer-demo");
  await page.goto(`/approvals/${id}`);
  await hydrated(page);
  await expect(page.getByTestId("live")).toHaveAttribute("data-live", "true");
  await expect(page.getByTestId("quorum")).toHaveText("0 of 2 approvals");
  const comment = page.getByLabel(/^Comment/).first();
  await comment.fill("Half-way through my note");
  await page.evaluate(() => window.scrollTo(0, 200));

  const admin = { Authorization: `Bearer ${process.env.E2E_ADMIN_KEY ?? ""}` };
  const res = await request.post(`/api/approvals/${id}/decision`, { headers: admin, data: { decision: "approve", comment: "first vote" } });
  expect(res.status(), await res.text()).toBe(200);

  // No reload: the event stream brings the vote, the regions are fetched again in place.
  await expect(page.getByTestId("quorum")).toHaveText("1 of 2 approvals (key:e2e-admin)");
  await expect(page.getByTestId("log-entry").filter({ hasText: "first vote" })).toHaveCount(1);
  await expect(comment).toHaveValue("Half-way through my note");
  await expect(comment).toBeFocused();
  expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(0);
  await expect(page.getByTestId("live")).toHaveAttribute("data-live", "true");
});

test("an update waits while the reviewer selects text, and a section the reviewer opened stays open", async ({ page, request }) => {
  const id = await requestApproval(request, "db_migrate", { database: "orders-prod", migration: "m_select_hold" });
  await login(page, "reviewer", "nofx-reviewer-demo");
  await page.goto(`/approvals/${id}`);
  await hydrated(page);
  await expect(page.getByTestId("live")).toHaveAttribute("data-live", "true");
  await page.getByText("Arguments as JSON").click();
  await expect(page.getByTestId("args")).toBeVisible();

  // A vote lands live; the opened section is still open in the new rendering.
  const admin = { Authorization: `Bearer ${process.env.E2E_ADMIN_KEY ?? ""}` };
  const vote = await request.post(`/api/approvals/${id}/decision`, { headers: admin, data: { decision: "approve", comment: "first vote" } });
  expect(vote.status(), await vote.text()).toBe(200);
  await expect(page.getByTestId("quorum")).toHaveText("1 of 2 approvals (key:e2e-admin)");
  await expect(page.getByTestId("args")).toBeVisible();

  // While text is selected the next update is held (swapping would drop the selection), and the
  // badge says so; letting go of the selection brings it in.
  await page.evaluate(() => {
    const range = document.createRange();
    range.selectNodeContents(document.querySelector("[data-testid=args]")!);
    window.getSelection()!.removeAllRanges();
    window.getSelection()!.addRange(range);
  });
  const note = await request.post(`/api/approvals/${id}/comments`, { headers: admin, data: { comment: "held comment" } });
  expect(note.status(), await note.text()).toBeLessThan(300);
  await expect(page.getByTestId("live")).toHaveAttribute("data-live", "held");
  await expect(page.getByTestId("live")).toContainText("let go of the selected text");
  await expect(page.getByTestId("log-entry").filter({ hasText: "held comment" })).toHaveCount(0);
  expect(await page.evaluate(() => window.getSelection()!.toString())).toContain("m_select_hold");
  await page.evaluate(() => window.getSelection()!.removeAllRanges());
  await expect(page.getByTestId("log-entry").filter({ hasText: "held comment" })).toHaveCount(1);
  await expect(page.getByTestId("live")).toHaveAttribute("data-live", "true");
  await expect(page.getByTestId("args")).toBeVisible();
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the decision form works as a plain HTML form", async ({ page, request }) => {
    const id = await requestApproval(request, "git_pr", { repo: "nofx/no-js" });
    await login(page, "reviewer", "nofx-reviewer-demo", false);
    await page.goto(`/approvals/${id}`);
    await page.getByTestId("send-comment").click();
    await expect(page.getByTestId("form-error")).toHaveCount(1);
    await expect(page.getByTestId("comment-form").locator("..").getByTestId("form-error")).toContainText("Write the comment before sending it");
    await page.getByTestId("deny").click();
    await expect(page.getByTestId("form-error")).toHaveCount(1);
    await expect(page.getByTestId("decision-form").locator("..").getByTestId("form-error")).toContainText("Say why you deny it");
    await page.getByLabel(/^Comment/).first().fill("Approved without scripts");
    await page.getByTestId("approve").click();
    await expect(page).toHaveURL(new RegExp(`/approvals\\?decided=${id}$`));
    const res = await request.get(`/api/approvals/${id}`, { headers: auth });
    expect((await res.json()).status).toBe("approved");
  });
});
