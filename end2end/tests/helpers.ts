import { expect, Page } from "@playwright/test";

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
