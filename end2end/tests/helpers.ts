import { test as base, expect, Page } from "@playwright/test";

/**
 * Playwright's `test`, failing any test in which a page throws or breaks the page's
 * Content-Security-Policy: a hydration mismatch or a panic in the WebAssembly app shows up as
 * an uncaught error and leaves the page dead, which assertions on server-rendered HTML alone
 * would not notice.
 */
export const test = base.extend<{ pageErrors: string[] }>({
  pageErrors: [
    async ({ context }, use) => {
      const errors: string[] = [];
      const watch = (page: Page) => {
        page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
        // The app's own scripts must never trip its Content-Security-Policy.
        page.on("console", (m) => {
          if (m.type() === "error" && /Content Security Policy/i.test(m.text())) errors.push(`${page.url()}: ${m.text()}`);
        });
      };
      context.pages().forEach(watch);
      context.on("page", watch);
      await use(errors);
      expect(errors, "uncaught errors in the browser").toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };

/** Signs in through the login form as a demo user (created by `nofx seed-demo`). */
export async function login(page: Page, username = "planner", password = "nofx-planner-demo", js = true) {
  await page.goto("/login");
  if (js) await hydrated(page);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("whoami")).toContainText(username);
}

/** Waits until the WebAssembly app has hydrated, so clicks go through the client-side code. */
export async function hydrated(page: Page) {
  await expect(page.locator("#app[data-hydrated=true]")).toBeAttached();
}

export const unique = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
