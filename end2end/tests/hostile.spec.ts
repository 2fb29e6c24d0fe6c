import { APIRequestContext, Page } from "@playwright/test";
import { test, expect, login, hydrated, unique } from "./helpers";

// Keys made by scripts/test (`nofx api-key create`): an agent and an admin.
const AGENT = { Authorization: `Bearer ${process.env.E2E_AUTOMATION_KEY ?? ""}` };
const ADMIN = { Authorization: `Bearer ${process.env.E2E_ADMIN_KEY ?? ""}` };
// A worker key (scripts/test), to report hostile output, errors and worker names on a step.
const WORKER = { Authorization: `Bearer ${process.env.E2E_WORKER_KEY ?? ""}` };

// Tag breakouts for every raw-text element, attribute breakouts, `javascript:` URLs, SVG and
// template payloads. Each one, if it ever ran, would set `window.__xss` or open a dialog.
const P = {
  textarea: `</textarea><img src=x onerror=window.__xss=1;alert(1)><textarea>`,
  script: `</script><script>window.__xss=2;alert(2)</script>`,
  raw: `</title></style></noscript></xmp><img src=x onerror=window.__xss=3>`,
  attr: `" autofocus onfocus="window.__xss=4" x="' onmouseover='window.__xss=5`,
  url: `<a href="javascript:window.__xss=6">click me</a> javascript:alert(6)`,
  svg: `</text></a></svg><svg onload=window.__xss=7><script>window.__xss=8</script>`,
  frame: `<iframe srcdoc="<script>parent.__xss=9</script>"></iframe><math><mtext><img src=x onerror=window.__xss=10>`,
  template: "{{constructor.constructor('window.__xss=11')()}} ${window.__xss=12} <!-- -->",
  // Backslashes, quotes and right-to-left overrides print as themselves too.
  odd: `C:\\temp\\ "quoted" 'single' \u202Eevil\u202C & &amp; &lt;b&gt;`,
};
const ALL = Object.values(P).join(" ");
// Control characters: refused in backlog text, kept (escaped) inside JSON arguments.
const CONTROL = "bell\u0007 nul\u0000 esc\u001b del\u007f";
const LONG = `${"A long line without any break ".repeat(120)}${P.textarea}`;

type Fixture = {
  comparison: number;
  item: number;
  pack: number;
  plan: number;
  step: string;
  pending: number;
  denied: number;
  tool: string;
  blocked: number;
};

async function post(request: APIRequestContext, path: string, headers: object, data: object) {
  const res = await request.post(path, { headers, data });
  expect(res.status(), `${path}: ${await res.text()}`).toBeLessThan(300);
  return res.json();
}

/** Stores every payload through the API into every text field a page shows. */
async function store(request: APIRequestContext): Promise<Fixture> {
  const u = unique();
  const tool = `hostile-${u}`;
  await post(request, "/api/tools", ADMIN, {
    id: tool,
    description: `${P.script} ${P.attr}`,
    rollback: `undo ${P.svg} for {{item_id}}`,
    mutating: true,
  });
  const pack = await post(request, "/api/packs", AGENT, { name: `${u} ${P.raw}`.slice(0, 100), description: `${P.frame} ${P.url}` });
  const item = await post(request, "/api/items", AGENT, {
    pack_id: pack.id,
    title: `${P.textarea} ${u}`,
    description: `${ALL}\n${LONG}`,
    tools: [tool, "git_pr"],
  });
  const plan = await post(request, "/api/auto-planner/plan", AGENT, { item_ids: [item.id] });
  const step = plan.steps.find((s: { tool: string }) => s.tool === tool).id;
  // Executed and approved; a worker named with a payload fails the first step with payloads.
  const run = await post(request, "/api/auto-planner/execute", AGENT, { plan_id: plan.id });
  await post(request, `/api/approvals/${run.approval_id}/decision`, ADMIN, { decision: "approve", comment: P.odd });
  const claim = await request.post("/api/worker/claim", { headers: WORKER, data: { tools: [tool], worker: P.attr, wait_s: 20 } });
  expect(claim.status(), await claim.text()).toBe(200);
  const job = await claim.json();
  await post(request, job.links.fail, WORKER, { fence: job.fence, error: P.script, output: `${P.url}\n${P.textarea}`, retryable: true });
  const ask = (args: object) =>
    post(request, "/api/approvals", AGENT, {
      tool_id: "git_pr",
      args,
      context: { reason: P.frame, diff: "javascript:alert(1)", nested: { deeper: P.template } },
      plan_id: plan.id,
      step_id: step,
      backlog_item_id: item.id,
    });
  const pending = await ask({ branch: P.script, title: P.svg, odd: P.odd, control: CONTROL });
  await post(request, `/api/approvals/${pending.id}/comments`, ADMIN, { comment: `${P.attr} ${P.url}` });
  const denied = await ask({ branch: P.raw });
  await post(request, `/api/approvals/${denied.id}/decision`, ADMIN, { decision: "deny", comment: `${P.textarea} ${P.template}` });
  // A plan over its budget, overridden with a justification full of payloads.
  const blocked = await post(request, "/api/auto-planner/plan", AGENT, { item_ids: [item.id], budget_usd: 0.01 });
  await post(request, "/api/automation/override", ADMIN, {
    plan_id: blocked.id,
    target: { kind: "plan_verdict", gate: "resource" },
    justification: `${P.script} ${P.attr} ${P.url}`,
    expires_in_minutes: 60,
  });
  // The planners compared on the hostile item: its title is in every candidate's wave strip.
  const comparison = await post(request, "/api/auto-planner/compare", AGENT, { item_ids: [item.id] });
  return { comparison: comparison.id, item: item.id, pack: pack.id, plan: plan.id, step, pending: pending.id, denied: denied.id, tool, blocked: blocked.id };
}

/** A string as it reads inside JSON text. */
const json = (s: string) => JSON.stringify(s).slice(1, -1);

/** What each page must show, literally. */
function pages(f: Fixture): [string, string[]][] {
  return [
    ["/backlog", [P.textarea, P.raw.slice(0, 40)]],
    [`/backlog/${f.item}`, [P.textarea, P.script, P.frame, P.template, P.odd]],
    [`/backlog/${f.item}/edit`, []], // checked through the form fields below
    ["/packs", [P.raw.slice(0, 40), P.frame]],
    ["/tools", [P.script]],
    ["/plans", []],
    [`/plans/${f.plan}`, [P.textarea, P.script, P.url, P.attr]],
    [`/plans/${f.plan}?step=${encodeURIComponent(f.step)}`, [P.svg]],
    // The inbox's cards: the requester's reason and the arguments as text.
    ["/approvals", [P.frame, P.script, P.svg]],
    // Arguments as text and as pretty-printed JSON (quotes escaped); the reason and comments as
    // text; a nested context value as compact JSON.
    [`/approvals/${f.pending}`, [P.script, json(P.script), json(P.svg), P.frame, json(P.template), json(CONTROL), P.attr, P.url]],
    ["/approvals/history", [P.textarea]],
    [`/approvals/${f.denied}`, [json(P.raw), P.textarea, P.template]],
    // The override's justification, and the audit trail naming the hostile pack and item.
    [`/plans/${f.blocked}`, [P.script, P.attr, P.url]],
    [`/audit?pack=${f.pack}`, [P.raw.slice(0, 40), P.textarea]],
    ["/keys", []],
    // The candidates' wave strips name the item in each square's title (SVG text, not shown).
    [`/comparisons/${f.comparison}`, []],
    // A candidate's own page: the full graph's titles, the step drawer's rollback.
    [`/comparisons/${f.comparison}/candidates/0?step=${encodeURIComponent(f.step)}`, [P.svg]],
    ["/planner-metrics", []],
  ];
}

/** Nothing injected exists, nothing ran, and the expected text is there as text. */
async function assertInert(page: Page, path: string, expected: string[]) {
  // Folded text (the arguments as JSON, "N more" lists) is shown text too: unfold it all.
  await page.evaluate(() => document.querySelectorAll("details").forEach((d) => (d.open = true)));
  const found = await page.evaluate(() => ({
    xss: (window as unknown as { __xss?: number }).__xss ?? null,
    injected: document.querySelectorAll(
      'img[src="x"], [onerror], [onload], [onfocus], [onmouseover], [autofocus], iframe, math, a[href^="javascript:"], svg[onload]',
    ).length,
    // The server's own scripts carry the response's nonce (hydration data holds the payloads as
    // escaped string literals); a script without it that mentions a payload was injected.
    scripts: [...document.scripts].filter((s) => !s.nonce && s.textContent?.includes("__xss")).length,
    text: document.body.innerText + "\n" + [...document.querySelectorAll("textarea, input")].map((e) => (e as HTMLInputElement).value).join("\n"),
  }));
  expect(found.xss, `${path}: a payload ran`).toBeNull();
  // SVG titles (the plan graph's boxes, the wave strips' squares) hold the text literally too.
  const titles = await page.evaluate(() => [...document.querySelectorAll("svg title")].map((t) => t.textContent ?? "").join("\n"));
  if (path.startsWith("/comparisons/")) expect(titles, `${path}: the item title in the graphs' titles`).toContain(P.textarea);
  expect(found.injected, `${path}: injected elements`).toBe(0);
  expect(found.scripts, `${path}: injected scripts`).toBe(0);
  const flat = found.text.replace(/\s+/g, " ");
  for (const want of expected) expect(flat, `${path} shows the text literally`).toContain(want.replace(/\s+/g, " "));
}

async function visitAll(page: Page, f: Fixture, js: boolean) {
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  for (const [path, expected] of pages(f)) {
    const res = await page.goto(path);
    expect(res?.status(), path).toBe(200);
    if (js) await hydrated(page);
    await assertInert(page, path, expected);
  }
  // The edit form holds the stored text exactly, ready to save unchanged.
  await page.goto(`/backlog/${f.item}/edit`);
  if (js) await hydrated(page);
  await expect(page.locator("#title")).toHaveValue(new RegExp(`^${escapeRe(P.textarea)}`));
  expect(await page.locator("#description").inputValue()).toBe(`${ALL}\n${LONG}`);
  expect(dialogs, "no dialog fired").toEqual([]);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

let fixture: Fixture;

test.beforeAll(async ({ request }) => {
  expect(process.env.E2E_ADMIN_KEY, "E2E_ADMIN_KEY must be set (scripts/test does)").toBeTruthy();
  expect(process.env.E2E_WORKER_KEY, "E2E_WORKER_KEY must be set (scripts/test does)").toBeTruthy();
  fixture = await store(request);
});

test("hostile strings in every field stay text on every page (JavaScript on)", async ({ page }) => {
  await login(page, "admin", "nofx-admin-demo");
  await visitAll(page, fixture, true);
  // Saving the edit form unchanged keeps the text byte for byte.
  await page.getByRole("button", { name: /Save/ }).click();
  await expect(page).toHaveURL(new RegExp(`/backlog/${fixture.item}$`));
  // The client-side navigation shows "Loading item…" until the item arrives: wait for it.
  await expect(page.getByTestId("description")).toBeVisible();
  await assertInert(page, "after saving", [P.textarea, P.odd]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });
  test("hostile strings stay text when the pages are plain HTML", async ({ page }) => {
    await login(page, "admin", "nofx-admin-demo", false);
    await visitAll(page, fixture, false);
  });
});

test("control characters, oversized text and markup in labels are refused with a sentence, not stored", async ({ request }) => {
  const pack = (await (await request.get("/api/packs", { headers: AGENT })).json())[0];
  const before = (await (await request.get("/api/items", { headers: AGENT })).json()).length;
  const cases: [object, RegExp][] = [
    [{ title: "bell \u0007 in a title" }, /title/],
    [{ title: "nul \u0000 in a title" }, /title/],
    [{ title: "x".repeat(201) }, /title/],
    [{ title: "fine", labels: ["<b>bold</b>"] }, /labels/],
    [{ title: "fine", labels: ["javascript:alert(1)"] }, /labels/],
  ];
  for (const [fields, field] of cases) {
    const res = await request.post("/api/items", { headers: AGENT, data: { pack_id: pack.id, ...fields } });
    expect(res.status(), JSON.stringify(fields).slice(0, 40)).toBe(422);
    expect((await res.json()).message).toMatch(field);
  }
  expect((await (await request.get("/api/items", { headers: AGENT })).json()).length).toBe(before);
});
