// What a reviewer on a phone waits for: bytes of JavaScript, WebAssembly and CSS per page, and
// the time until the approval page is painted and live (hydrated, live updates connected), under
// Chrome DevTools' "Fast 4G" and "Slow 4G" network profiles with the CPU slowed 4×; plus the
// plan page's HTML for a 500-step plan. Run by scripts/frontend-bench against a release build.
//
// Usage: node bench/frontend.mjs <base url> <approval id> <plan id> <runs>
import { chromium } from "@playwright/test";

const [base, approvalId, planId, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 5);

// Chrome DevTools' presets (front_end/core/sdk/NetworkManager.ts): throughput in bytes/s.
const PROFILES = {
  "fast 4G": { latency: 60 * 2.75, downloadThroughput: ((9 * 1000 * 1000) / 8) * 0.9, uploadThroughput: ((1.5 * 1000 * 1000) / 8) * 0.9 },
  "slow 4G": { latency: 150 * 3.75, downloadThroughput: ((1.6 * 1000 * 1000) / 8) * 0.9, uploadThroughput: ((750 * 1000) / 8) * 0.9 },
};
const CPU_SLOWDOWN = 4;

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });

async function signIn(context) {
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.waitForSelector("#app[data-hydrated=true]");
  await page.fill("input[name=username]", "reviewer");
  await page.fill("input[name=password]", "nofx-reviewer-demo");
  await page.click("button[type=submit]");
  await page.waitForURL((u) => !u.pathname.startsWith("/login"));
  await page.close();
}

/** Loads `path` in a fresh page and returns the bytes on the wire per kind and the timings.
 * `cold` bypasses the browser cache (signing in has already fetched the assets once). */
async function load(context, path, profile, { waitLive = false, cold = false } = {}) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: cold });
  if (profile) {
    await cdp.send("Network.emulateNetworkConditions", { offline: false, ...PROFILES[profile] });
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: CPU_SLOWDOWN });
  }
  const kinds = new Map();
  const bytes = { js: 0, wasm: 0, css: 0, html: 0, other: 0 };
  cdp.on("Network.responseReceived", (e) => {
    const url = e.response.url;
    const kind = url.endsWith(".wasm") ? "wasm" : url.endsWith(".js") ? "js" : url.endsWith(".css") ? "css" : e.type === "Document" ? "html" : "other";
    kinds.set(e.requestId, kind);
  });
  cdp.on("Network.loadingFinished", (e) => {
    const kind = kinds.get(e.requestId);
    if (kind) bytes[kind] += e.encodedDataLength;
  });
  await page.goto(`${base}${path}`, { waitUntil: "commit" });
  await page.waitForSelector("#app[data-hydrated=true]", { timeout: 120_000 });
  if (waitLive) await page.waitForSelector("[data-testid=live][data-live=true]", { timeout: 120_000 });
  const timing = await page.evaluate(() => ({
    paint: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN,
    live: performance.now(),
  }));
  await page.close();
  return { bytes, timing };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const ms = (n) => `${(n / 1000).toFixed(2)} s`;

// 1. Bytes per page, cache off (a new browser context per page), no throttling.
console.log("## Bytes per page (cache off; JS + WebAssembly + CSS as sent, and the HTML)");
for (const path of ["/approvals", `/approvals/${approvalId}`, "/backlog", `/plans/${planId}`]) {
  const context = await browser.newContext();
  await signIn(context);
  const { bytes } = await load(context, path, null, { cold: true });
  console.log(`${path.padEnd(20)} js ${kb(bytes.js)} · wasm ${kb(bytes.wasm)} · css ${kb(bytes.css)} · total ${kb(bytes.js + bytes.wasm + bytes.css)} · html ${kb(bytes.html)}`);
  await context.close();
}

// 2. The approval page: painted and live, cold (first visit) and warm (assets cached).
for (const profile of Object.keys(PROFILES)) {
  for (const visit of ["cold", "warm"]) {
    const paints = [];
    const lives = [];
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext();
      await signIn(context);
      if (visit === "warm") await load(context, `/approvals/${approvalId}`, null, { waitLive: true });
      const { timing } = await load(context, `/approvals/${approvalId}`, profile, { waitLive: true, cold: visit === "cold" });
      paints.push(timing.paint);
      lives.push(timing.live);
      await context.close();
    }
    console.log(`approval page, ${profile}, CPU ×${CPU_SLOWDOWN}, ${visit}: painted ${ms(median(paints))} · live ${ms(median(lives))} (median of ${runs}; live ${lives.map(ms).join(", ")})`);
  }
}

await browser.close();
