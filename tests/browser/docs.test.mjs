// The API reference (/docs) in a real browser (headless Chromium, playwright-core): Swagger UI,
// served by ticketd itself, renders every operation of the document under the page's
// Content-Security-Policy, and nothing is requested from another origin.
// Run by tests/e2e/test_browser.py, which starts ticketd:
//   TICKETD_URL  OPERATIONS (how many the document has)  [CHROMIUM]
// Prints one JSON line; exits non-zero on any failure.
import { launch, need } from "./browser.mjs";

const base = need("TICKETD_URL");
const expected = Number(need("OPERATIONS"));

const browser = await launch();
const problems = [];
const foreign = [];
try {
  const page = await (await browser.newContext()).newPage();
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("console", (m) => {
    // A blocked script or style is reported on the console, not as a page error.
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
  });
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("data:")) foreign.push(r.url());
  });
  await page.goto(`${base}/docs`);
  await page.waitForSelector(".opblock", { timeout: 30000 });
  const rendered = await page.locator(".opblock").count();
  const title = await page.textContent(".info .title");
  if (rendered !== expected) throw new Error(`rendered ${rendered} operations, the document has ${expected}`);
  if (!/ticketd/.test(title || "")) throw new Error(`unexpected title: ${title}`);
  if (foreign.length) throw new Error("requests to other origins:\n" + foreign.join("\n"));
  if (problems.length) throw new Error("page errors:\n" + problems.join("\n"));
  console.log(JSON.stringify({ ok: true, rendered, title }));
} finally {
  await browser.close();
}
