import { test, expect } from "@playwright/test";
test("shot", async ({ browser }) => {
  for (const js of [true, false]) {
    for (const width of [390, 1440]) {
      const context = await browser.newContext({ javaScriptEnabled: js, viewport: { width, height: 900 } });
      const page = await context.newPage();
      await page.goto("/login");
      await page.fill("input[name=username]", "planner");
      await page.fill("input[name=password]", "nofx-planner-demo");
      await page.click("button[type=submit]");
      await page.waitForURL((u) => !u.pathname.startsWith("/login"));
      await page.goto("/plans/1?graph=items&page=1");
      await page.getByTestId("graph-frame").scrollIntoViewIfNeeded();
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      await page.screenshot({ path: `/tmp/shot-${js ? "js" : "nojs"}-${width}.png` });
      await context.close();
    }
  }
});
