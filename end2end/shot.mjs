import { chromium } from "@playwright/test";
const [,, base, user, pass, ...paths] = process.argv;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium" });
for (const [w, h, tag] of [[1440, 900, "wide"], [390, 844, "phone"]]) {
  const page = await browser.newPage({ viewport: { width: w, height: h } });
  await page.goto(base + "/login");
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(pass);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/backlog/);
  for (const p of paths) {
    await page.goto(base + p);
    await page.waitForTimeout(800);
    const sw = await page.evaluate(() => document.documentElement.scrollWidth);
    const name = `/tmp/shots/${tag}-${p.replace(/[^a-z0-9]+/gi, "_")}.png`;
    await page.screenshot({ path: name, fullPage: true });
    console.log(name, "scrollWidth", sw);
  }
  await page.close();
}
await browser.close();
