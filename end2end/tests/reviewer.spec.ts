import { APIRequestContext, Browser, Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { test, expect, login, hydrated, unique } from "./helpers";

// Keys made by scripts/test: an agent asks for approvals; an admin decides as a second reviewer.
const KEY = process.env.E2E_AUTOMATION_KEY ?? "";
const auth = { Authorization: `Bearer ${KEY}` };

async function ask(request: APIRequestContext, tool: string, args: object, context: object = {}): Promise<number> {
  const res = await request.post("/api/approvals", { headers: auth, data: { tool_id: tool, args, context } });
  expect(res.status(), await res.text()).toBe(201);
  return (await res.json()).id;
}

const row = (page: Page, id: number) => page.locator(`[data-testid=inbox-row][data-id="${id}"]`);
const note = (page: Page, id: number) => page.locator(`[data-testid=decided-note][data-id="${id}"]`);

/** A signed-in page with JavaScript on or off, at a laptop's or a phone's size. */
async function signedIn(browser: Browser, user: string, password: string, opts: { js?: boolean; phone?: boolean } = {}) {
  const js = opts.js ?? true;
  const context = await browser.newContext({
    javaScriptEnabled: js,
    viewport: opts.phone ? { width: 390, height: 844 } : { width: 1440, height: 900 },
  });
  const page = await context.newPage();
  await login(page, user, password, js);
  return { context, page };
}

test.beforeAll(() => {
  expect(KEY, "E2E_AUTOMATION_KEY must be set (scripts/test does)").not.toBe("");
});

for (const js of [true, false]) {
  test(`a two-person quorum says where it stands after each vote (JavaScript ${js ? "on" : "off"})`, async ({ browser, request }) => {
    // db_migrate needs two approvals in the demo.
    const id = await ask(request, "db_migrate", { database: "orders-prod", migration: `m_${unique()}` }, { reason: "Index for checkout" });
    const reviewer = await signedIn(browser, "reviewer", "nofx-reviewer-demo", { js });
    // A reviewer starts on the inbox.
    await expect(reviewer.page).toHaveURL(/\/approvals$/);
    await expect(row(reviewer.page, id).getByTestId("standing")).toHaveText("Waiting for 2 approvals: none yet.");
    await expect(row(reviewer.page, id).getByTestId("reason")).toContainText("Index for checkout");
    await expect(row(reviewer.page, id).locator("[data-target=true]")).toContainText("orders-prod");

    await reviewer.page.goto(`/approvals/${id}`);
    if (js) await hydrated(reviewer.page);
    await reviewer.page.getByTestId("approve").click();
    await expect(reviewer.page).toHaveURL(new RegExp(`/approvals\\?decided=${id}$`));
    // Not "decided": one vote of two, and the request stays in the inbox.
    await expect(note(reviewer.page, id)).toHaveAttribute("data-status", "pending");
    await expect(note(reviewer.page, id).getByTestId("standing")).toHaveText("You approved: 1 of 2 approvals, 1 more needed from another reviewer.");
    await expect(row(reviewer.page, id).getByTestId("standing")).toHaveText(/^You approved: 1 of 2/);
    await reviewer.page.goto(`/approvals/${id}`);
    await expect(reviewer.page.getByTestId("standing-detail")).toContainText("Any reviewer except key:e2e-agent (who asked) and user:reviewer (already approved) may approve");
    await expect(reviewer.page.getByTestId("approve")).toBeDisabled();

    const admin = await signedIn(browser, "admin", "nofx-admin-demo", { js });
    await admin.page.goto(`/approvals/${id}`);
    if (js) await hydrated(admin.page);
    await expect(admin.page.getByTestId("standing")).toHaveText("1 of 2 approvals so far (user:reviewer): 1 more needed.");
    await admin.page.getByTestId("approve").click();
    await expect(note(admin.page, id)).toHaveAttribute("data-status", "approved");
    await expect(note(admin.page, id).getByTestId("standing")).toContainText("Approved by user:reviewer and user:admin");
    await expect(row(admin.page, id)).toHaveCount(0);
    await reviewer.context.close();
    await admin.context.close();
  });
}

test("bulk approve and bulk deny with a reason, one tool at a time", async ({ browser, request }) => {
  const tag = unique();
  const prs = [];
  for (let i = 0; i < 3; i++) prs.push(await ask(request, "git_pr", { repo: "shop/web", branch: `bulk-${tag}-${i}` }));
  const other = await ask(request, "db_write", { statement: `update t set x = 1 -- ${tag}` });
  const { page, context } = await signedIn(browser, "reviewer", "nofx-reviewer-demo");
  await page.goto("/approvals?tool_id=git_pr");
  await hydrated(page);
  await expect(page.getByTestId("bulk-approve")).toBeDisabled();
  await row(page, prs[0]).getByTestId("select").check();
  await row(page, prs[1]).getByTestId("select").check();
  await expect(page.getByTestId("selection-count")).toHaveText("2 requests of git_pr selected");
  await page.getByTestId("bulk-approve").click();
  for (const id of prs.slice(0, 2)) await expect(note(page, id)).toHaveAttribute("data-status", "approved");
  await expect(row(page, prs[0])).toHaveCount(0);

  // Another tool's requests cannot join a selection.
  await page.goto("/approvals");
  await hydrated(page);
  await row(page, prs[2]).getByTestId("select").check();
  await expect(row(page, other).getByTestId("select")).toBeDisabled();
  // Denying needs a reason: the error shows in place and nothing is decided.
  await page.getByTestId("bulk-deny").click();
  await expect(page.getByTestId("bulk-bar").getByTestId("form-error")).toContainText("Say why you deny it");
  await expect(row(page, prs[2])).toBeVisible();
  await page.getByTestId("bulk-comment").fill("Branch is stale");
  await page.getByTestId("bulk-deny").click();
  await expect(note(page, prs[2])).toHaveAttribute("data-status", "denied");
  await expect(note(page, prs[2]).getByTestId("standing")).toContainText("Denied by user:reviewer");
  const log = await (await request.get(`/api/approvals/${prs[2]}`, { headers: auth })).json();
  expect(log.log.at(-1)).toMatchObject({ kind: "deny", note: "Branch is stale", actor: "user:reviewer" });
  await context.close();
});

test("bulk approve works without JavaScript", async ({ browser, request }) => {
  const tag = unique();
  const a = await ask(request, "git_pr", { repo: "shop/api", branch: `nojs-${tag}-a` });
  const b = await ask(request, "git_pr", { repo: "shop/api", branch: `nojs-${tag}-b` });
  const { page, context } = await signedIn(browser, "reviewer", "nofx-reviewer-demo", { js: false });
  await page.goto("/approvals?tool_id=git_pr");
  await row(page, a).getByTestId("select").check();
  await row(page, b).getByTestId("select").check();
  await page.getByTestId("bulk-approve").click();
  await expect(note(page, a)).toHaveAttribute("data-status", "approved");
  await expect(note(page, b)).toHaveAttribute("data-status", "approved");
  await context.close();
});

test("the pending count is in the navigation and the tab title, and follows new requests live", async ({ browser, request }) => {
  const { page, context } = await signedIn(browser, "reviewer", "nofx-reviewer-demo");
  await hydrated(page);
  const badges = page.getByTestId("pending-badge");
  const before = (await badges.count()) > 0 ? Number(await badges.first().textContent()) : 0;
  await ask(request, "git_pr", { repo: "shop/web", branch: `count-${unique()}` });
  await expect(page.getByTestId("pending-badge").first()).toHaveText(String(before + 1));
  await page.reload();
  await expect(page).toHaveTitle(new RegExp(`^\\(${before + 1}\\) NOFX`));
  await context.close();
});

test("missing records answer 404 with a way back", async ({ page }) => {
  await login(page);
  for (const path of ["/plans/999999", "/backlog/999999", "/approvals/999999"]) {
    const res = await page.goto(path);
    expect(res?.status(), path).toBe(404);
    await expect(page.getByTestId("error-panel")).toContainText("not found");
    await expect(page.getByTestId("error-panel").getByRole("link", { name: "Go to your start page" })).toBeVisible();
  }
  expect((await page.goto("/no/such/page"))?.status()).toBe(404);
});

for (const js of [true, false]) {
  test(`deleting an item asks first (JavaScript ${js ? "on" : "off"})`, async ({ browser }) => {
    const { page, context } = await signedIn(browser, "planner", "nofx-planner-demo", { js });
    const title = `Throwaway ${unique()}`;
    await page.goto("/backlog/new");
    if (js) await hydrated(page);
    await page.getByLabel("Title", { exact: true }).fill(title);
    await page.getByTestId("save-item").click();
    await expect(page.getByRole("heading", { name: title })).toBeVisible();
    const url = page.url();
    // One click only opens the question.
    await page.getByTestId("delete-item").locator("summary").click();
    await expect(page.getByTestId("delete-item")).toContainText(`Delete “${title}”?`);
    await expect(page).toHaveURL(url);
    await page.getByTestId("confirm-delete-item").click();
    await expect(page).toHaveURL(/\/backlog(\?|$)/);
    expect((await page.goto(url))?.status()).toBe(404);
    await context.close();
  });
}

const PAGES = ["/backlog", "/backlog/1", "/backlog/new", "/packs", "/tools", "/plans", "/plans/1", "/comparisons/1", "/comparisons/1/candidates/0", "/planner-metrics", "/approvals", "/approvals/history", "/audit", "/keys"];

for (const width of [360, 390]) {
  test(`every page fits ${width} px without sideways scrolling`, async ({ browser }, testInfo) => {
    const context = await browser.newContext({ viewport: { width, height: 844 } });
    const page = await context.newPage();
    await page.goto("/login");
    await hydrated(page);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("nofx-admin-demo");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).not.toHaveURL(/login/);
    for (const path of PAGES) {
      await page.goto(path);
      await hydrated(page);
      const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      expect(scroll, `${path} is ${scroll} px wide at ${width}`).toBeLessThanOrEqual(inner);
      if (width === 390) {
        await page.screenshot({ path: testInfo.outputPath(`${path.replace(/\W+/g, "_")}-390.png`), fullPage: true });
      }
    }
    // The menu opens and its links work.
    await page.getByTestId("menu").click();
    await page.getByRole("link", { name: /^Approvals/ }).click();
    await expect(page).toHaveURL(/\/approvals$/);
    await context.close();
  });
}

for (const width of [1440, 390]) {
  test(`every page passes axe's WCAG 2.1 A and AA checks at ${width} px (contrast, names, keyboard)`, async ({ browser, request }) => {
    test.setTimeout(180_000);
    const id = await ask(request, "db_write", { database: "billing", statement: "update invoices set paid = true" }, { reason: "accessibility sweep" });
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    const check = async (what: string) => {
      const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
      for (const v of result.violations) {
        const where = v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ");
        problems.push(`${what}: ${v.id} (${v.impact}, ${v.nodes.length}×) ${v.help}: ${where}`);
      }
    };
    await page.goto("/login");
    await hydrated(page);
    await check("/login");
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("nofx-admin-demo");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).not.toHaveURL(/login/);
    for (const path of [...PAGES, `/approvals/${id}`, "/backlog/1/edit", "/tools?edit=bash", "/plans/999999", "/no/such/page"]) {
      await page.goto(path);
      await hydrated(page);
      await check(path);
    }
    if (width === 390) {
      await page.goto("/backlog");
      await hydrated(page);
      await page.getByTestId("menu").click();
      await check("the open menu");
    }
    // A plan step's drawer, opened by its link.
    await page.goto("/plans/1");
    const step = await page.getByTestId("plan-graph").locator("a[data-step]").first().getAttribute("data-step");
    await page.goto(`/plans/1?step=${step}`);
    await hydrated(page);
    await expect(page.getByTestId("step-drawer")).toBeVisible();
    await check(`/plans/1?step=${step}`);
    await context.close();
    expect(problems, problems.join("\n")).toEqual([]);
  });
}

test("on a phone the decision bar is on screen without scrolling, with touch-sized buttons", async ({ browser, request }) => {
  const long = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`arg_${i}`, "x".repeat(120)]));
  const id = await ask(request, "db_write", { database: "billing", ...long }, { reason: "Backfill https://example.com/runbook" });
  const { page, context } = await signedIn(browser, "reviewer", "nofx-reviewer-demo", { phone: true });
  await page.goto(`/approvals/${id}`);
  await hydrated(page);
  const approve = page.getByTestId("approve");
  await expect(approve).toBeInViewport();
  const box = (await approve.boundingBox())!;
  expect(box.height).toBeGreaterThanOrEqual(44);
  expect(box.y + box.height).toBeLessThanOrEqual(844);
  await expect(page.getByTestId("reason").getByRole("link", { name: "https://example.com/runbook" })).toHaveAttribute("rel", /noopener/);
  const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  expect(scroll).toBeLessThanOrEqual(inner);
  await page.screenshot({ path: test.info().outputPath("approval-390.png") });
  await context.close();
});

test("screenshots of the main pages at laptop size", async ({ page }, testInfo) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await login(page, "admin", "nofx-admin-demo");
  for (const path of PAGES) {
    await page.goto(path);
    await hydrated(page);
    const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    expect(scroll, path).toBeLessThanOrEqual(inner);
    await page.screenshot({ path: testInfo.outputPath(`${path.replace(/\W+/g, "_")}-1440.png`), fullPage: true });
  }
});

test("the selection bar counts ticked items, ticks all, and stays under the thumb", async ({ browser }) => {
  const { page, context } = await signedIn(browser, "planner", "nofx-planner-demo", { phone: true });
  await page.goto("/backlog?pack_id=2");
  await hydrated(page);
  const bar = page.getByTestId("plan-toolbar");
  await expect(bar).toBeInViewport();
  await expect(page.getByTestId("selection-count")).toHaveText(/^None of \d+ plannable items selected$/);
  await expect(page.getByTestId("plan-selected")).toBeDisabled();
  const boxes = page.locator("[data-testid=select-item]:not([disabled])");
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await expect(page.getByTestId("selection-count")).toHaveText(/^2 of \d+ plannable items selected$/);
  await page.getByTestId("select-none").click();
  await expect(page.getByTestId("selection-count")).toHaveText(/^None of/);
  await page.getByTestId("select-all").click();
  const total = await page.locator("[data-testid=select-item]:not([disabled])").count();
  await expect(page.getByTestId("selection-count")).toHaveText(`${total} of ${total} plannable items selected`);
  await expect(bar).toBeInViewport();
  await context.close();
});

test("without JavaScript, Tick all is a link and an empty selection is explained in the page's words", async ({ browser }) => {
  const { page, context } = await signedIn(browser, "planner", "nofx-planner-demo", { js: false });
  await page.goto("/backlog?pack_id=2");
  await page.getByTestId("plan-selected").click();
  await expect(page.getByTestId("form-error")).toHaveText("Tick at least one item, then press Plan selected.");
  await page.goto("/backlog?pack_id=2");
  await page.getByTestId("select-all").click();
  await expect(page).toHaveURL(/select=all/);
  const enabled = page.locator("[data-testid=select-item]:not([disabled])");
  expect(await enabled.count()).toBeGreaterThan(0);
  for (const box of await enabled.all()) await expect(box).toBeChecked();
  await context.close();
});

/** Plans every open demo item (a 90-odd step plan in 17 waves) through the API, as a planner. */
async function bigPlan(request: APIRequestContext): Promise<number> {
  const items = await (await request.get("/api/items", { headers: auth })).json();
  const open = (items.items ?? items).filter((i: { status: string }) => i.status !== "done").map((i: { id: number }) => i.id);
  const res = await request.post("/api/auto-planner/plan", { headers: auth, data: { item_ids: open, include_dependencies: true } });
  expect(res.status(), await res.text()).toBe(201);
  const plan = await res.json();
  expect(plan.steps.length).toBeGreaterThan(80);
  return plan.id;
}

test("the graph of a big plan fits, zooms from the keyboard and opens a step in a drawer beside it", async ({ page, request }) => {
  const id = await bigPlan(request);
  await page.setViewportSize({ width: 1440, height: 900 });
  await login(page);
  await page.goto(`/plans/${id}`);
  await hydrated(page);
  const frame = page.getByTestId("graph-frame");
  const svg = page.getByTestId("plan-graph");
  const natural = (await svg.boundingBox())!.width;
  const frameWidth = (await frame.boundingBox())!.width;
  expect(natural).toBeGreaterThan(frameWidth);
  await page.getByTestId("zoom").getByRole("link", { name: "Fit" }).click();
  await expect(page).toHaveURL(/zoom=fit/);
  // Only the chosen zoom, and the chosen verdict filters, are announced as current.
  await expect(page.getByTestId("zoom").locator("[aria-current]")).toHaveCount(1);
  await expect(page.getByTestId("zoom").getByRole("link", { name: "Fit" })).toHaveAttribute("aria-current", "true");
  await expect(page.getByTestId("verdict-table").locator("[aria-current]")).toHaveText(["All gates", "needs attention"]);
  await expect.poll(async () => (await svg.boundingBox())!.width).toBeLessThanOrEqual(frameWidth);
  // From the keyboard: + zooms in from Fit to 25 %.
  await frame.focus();
  await page.keyboard.press("+");
  await expect(page).toHaveURL(/zoom=25/);
  await expect.poll(async () => Math.round((await svg.boundingBox())!.width)).toBe(Math.round(natural * 0.25));
  await page.screenshot({ path: test.info().outputPath("big-plan-graph-1440.png"), fullPage: false });

  // A step opens in the drawer, on screen at once, with the zoom kept.
  const node = svg.locator("a[data-step]").nth(10);
  const step = await node.getAttribute("data-step");
  await node.click();
  await expect(page).toHaveURL(new RegExp(`step=${step}`));
  await expect(page).toHaveURL(/zoom=25/);
  const drawer = page.getByTestId("step-drawer");
  await expect(drawer).toBeInViewport();
  await expect(drawer.getByTestId("step-panel")).toContainText(step!);
  await page.keyboard.press("Escape");
  await expect(drawer).toHaveCount(0);
  await expect(page).toHaveURL(/zoom=25/);
  await expect(page).not.toHaveURL(/step=/);

  // A focused box's full label is spelled out under the graph (its box text is cut to fit).
  const title = (await node.locator("title").textContent())!;
  await node.focus();
  await expect(page.getByTestId("graph-focus")).toHaveText(title);
  expect(title).toContain(step!);

  // One box per item on request; the page says which view it shows and links back.
  await page.getByTestId("graph-detail").getByRole("link").click();
  await expect(page).toHaveURL(/graph=items/);
  await expect(svg).toHaveAttribute("data-detail", "items");
  const items = await svg.locator("a[data-item]").count();
  expect(items).toBeGreaterThan(0);
  expect(items).toBeLessThan(await page.getByTestId("graph-detail").evaluate((e) => Number(/Every step \((\d+)\)/.exec(e.textContent ?? "")![1])));
  await frame.scrollIntoViewIfNeeded();
  await page.screenshot({ path: test.info().outputPath("big-plan-items-1440.png"), fullPage: false });
  await page.setViewportSize({ width: 390, height: 844 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
  await frame.scrollIntoViewIfNeeded();
  await page.screenshot({ path: test.info().outputPath("big-plan-items-390.png"), fullPage: false });
});

test("without JavaScript a step's link lands on its drawer, and Close returns to the plan", async ({ browser, request }) => {
  const id = await bigPlan(request);
  const { page, context } = await signedIn(browser, "planner", "nofx-planner-demo", { js: false, phone: true });
  await page.goto(`/plans/${id}`);
  const step = await page.getByTestId("plan-graph").locator("a[data-step]").first().getAttribute("data-step");
  await page.goto(`/plans/${id}?step=${step}`);
  await expect(page.getByTestId("step-drawer")).toBeInViewport();
  await page.getByTestId("close-step").click();
  await expect(page).toHaveURL(new RegExp(`/plans/${id}$`));
  await expect(page.getByTestId("step-drawer")).toHaveCount(0);
  await context.close();
});

test("an approval's step link opens the step's drawer, which links back to the approval", async ({ page, request }) => {
  // The demo's running plan (#1) has a step waiting for a reviewer.
  const run = await (await request.get("/api/plans/1/run", { headers: auth })).json();
  const waiting = run.steps.find((s: { state: string; approval_id: number | null }) => s.state === "waiting_approval" && s.approval_id);
  expect(waiting, "the demo run waits for a step approval").toBeTruthy();
  const a = { id: waiting.approval_id, plan_id: 1, step_id: waiting.step_id };
  await login(page, "reviewer", "nofx-reviewer-demo");
  await page.goto(`/approvals/${a.id}`);
  await hydrated(page);
  await page.getByRole("link", { name: new RegExp(`Plan #${a.plan_id} · step ${a.step_id}`) }).click();
  const drawer = page.getByTestId("step-drawer");
  await expect(drawer).toBeInViewport();
  await drawer.getByTestId("step-run").getByRole("link", { name: `#${a.id}` }).click();
  await expect(page).toHaveURL(new RegExp(`/approvals/${a.id}$`));
});

test("a blocked plan's fixes are places in the app: the tool's form for an admin, who can for a planner", async ({ browser, request }) => {
  const ADMIN = { Authorization: `Bearer ${process.env.E2E_ADMIN_KEY ?? ""}` };
  const tool = `purge_${unique()}`;
  let res = await request.post("/api/tools", { headers: ADMIN, data: { id: tool, mutating: true, description: "Purges a cache" } });
  expect(res.status(), await res.text()).toBe(201);
  const packs = await (await request.get("/api/packs", { headers: auth })).json();
  const pack = (packs.packs ?? packs)[0].id;
  res = await request.post("/api/items", { headers: auth, data: { pack_id: pack, title: `Purge with ${tool}`, tools: [tool] } });
  expect(res.status(), await res.text()).toBe(201);
  const item = await res.json();
  res = await request.post("/api/auto-planner/plan", { headers: auth, data: { item_ids: [item.id] } });
  const plan = await res.json();
  expect(plan.status).toBe("blocked");

  // A planner cannot edit tools: the fix says who can.
  const planner = await signedIn(browser, "planner", "nofx-planner-demo");
  await planner.page.goto(`/plans/${plan.id}`);
  await expect(planner.page.getByTestId("fix-elsewhere")).toContainText(`Add a rollback recipe to ${tool} — an admin can do this`);
  await planner.context.close();

  const admin = await signedIn(browser, "admin", "nofx-admin-demo");
  await admin.page.goto(`/plans/${plan.id}`);
  await hydrated(admin.page);
  await admin.page.getByTestId("fixes").getByRole("link", { name: new RegExp(`rollback recipe to ${tool}`) }).click();
  await expect(admin.page.getByTestId("edit-tool")).toBeVisible();
  await admin.page.getByLabel(/^Rollback recipe/).fill("Re-warm the cache for item {item_id}");
  await admin.page.getByTestId("save-tool").click();
  await expect(admin.page.getByTestId("tool-saved")).toContainText(`Saved \`${tool}\``);
  await expect(admin.page.locator(`[data-testid=tool-row][data-tool="${tool}"]`)).toContainText("Re-warm the cache for item {item_id}");
  const again = await (await request.post("/api/auto-planner/plan", { headers: auth, data: { item_ids: [item.id] } })).json();
  expect(again.status).toBe("ready");
  await admin.context.close();
});
