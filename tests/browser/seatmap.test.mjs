// The seat-map page in a real browser (headless Chromium, Debian's `chromium`, driven by
// playwright-core): page A watches an event; page B, in another browser context (another
// session), signs in, picks a seat and reserves it; A must show the seat held within 1 s. Then B
// pays through the simulated provider, gets its signed ticket code, and A shows the seat sold.
// Run by tests/e2e/test_browser.py, which starts ticketd and prepares the event and the user:
//   TICKETD_URL  EVENT_ID  SEAT_ID  EMAIL  PASSWORD  ARTIFACTS  [CHROMIUM]
// Prints one JSON line with the measured delay; exits non-zero on any failure.
import fs from "node:fs";
import path from "node:path";
import { launch, need } from "./browser.mjs";

const base = need("TICKETD_URL");
const eventId = need("EVENT_ID");
const seatId = need("SEAT_ID");
const email = need("EMAIL");
const password = need("PASSWORD");
const artifacts = need("ARTIFACTS");

fs.mkdirSync(artifacts, { recursive: true });
const browser = await launch();
const problems = [];
const watch = (page, name) => {
  page.on("pageerror", (e) => problems.push(`${name}: ${e.message}`));
  page.on("console", (m) => {
    // HTTP answers such as 404 for endpoints this server lacks are the page's to handle; script
    // errors are not.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`${name} console: ${m.text()}`);
    }
  });
};
const seat = `button.seat[data-id="${seatId}"]`;
const url = `${base}/app/events/${eventId}`;

try {
  const a = await (await browser.newContext()).newPage();
  watch(a, "A");
  await a.goto(url);
  await a.waitForSelector('body[data-live="true"]', { timeout: 15000 });
  const before = await a.getAttribute(seat, "data-status");
  if (before !== "AVAILABLE") throw new Error(`seat starts ${before}, expected AVAILABLE`);

  // Accessible and keyboard-operable: labelled buttons, arrow keys move the focus.
  const label = await a.getAttribute(seat, "aria-label");
  if (!/seat .*available/.test(label || "")) throw new Error(`unexpected aria-label: ${label}`);
  await a.focus('button.seat[tabindex="0"]');
  const first = await a.evaluate(() => document.activeElement.dataset.id);
  await a.keyboard.press("ArrowRight");
  const second = await a.evaluate(() => document.activeElement.dataset.id);
  if (!first || !second || first === second) throw new Error("arrow keys do not move between seats");

  const b = await (await browser.newContext()).newPage();
  watch(b, "B");
  await b.goto(url);
  await b.waitForSelector('body[data-live="true"]', { timeout: 15000 });
  await b.fill("#email", email);
  await b.fill("#password", password);
  await b.click("#login-btn");
  await b.waitForSelector("#who:not([hidden])", { timeout: 10000 });
  await b.click(seat);
  if ((await b.getAttribute(seat, "aria-pressed")) !== "true") throw new Error("picking a seat did not select it");

  const reserved = b.waitForResponse((r) => r.url().endsWith("/api/v1/reservations") && r.request().method() === "POST");
  const start = Date.now();
  await b.click("#reserve");
  const res = await reserved;
  if (res.status() !== 201) throw new Error(`reserve answered ${res.status()}: ${await res.text()}`);
  await a.waitForFunction((sel) => document.querySelector(sel)?.dataset.status === "RESERVED", seat, {
    timeout: 1000,
    polling: 10,
  });
  const latencyMs = Date.now() - start;
  await b.waitForSelector("#hold:not([hidden])", { timeout: 5000 });

  // B pays through the simulated provider; the ticket (a signed code) appears, and A sees the
  // seat sold once the payment.succeeded consumer has issued it.
  await b.click("#pay");
  await b.waitForFunction(() => [...document.querySelectorAll("#ticket-list code")].some((c) => c.textContent.startsWith("TK1")),
    null, { timeout: 30000, polling: 50 });
  await a.waitForFunction((sel) => document.querySelector(sel)?.dataset.status === "SOLD", seat, {
    timeout: 5000,
    polling: 20,
  });

  await a.screenshot({ path: path.join(artifacts, "seatmap-watcher.png"), fullPage: true });
  await b.screenshot({ path: path.join(artifacts, "seatmap-buyer.png"), fullPage: true });
  if (problems.length) throw new Error("page errors:\n" + problems.join("\n"));
  console.log(JSON.stringify({ ok: true, latencyMs }));
} finally {
  await browser.close();
}
