// The seat-map page's waiting room in a real browser (headless Chromium, playwright-core): the
// event's queue is ON and someone is ahead in line, so the signed-in buyer sees the waiting room
// with a position, is admitted, and reserves with the admission token the page got.
// Run by tests/e2e/test_browser.py, which starts ticketd and prepares the event and the user:
//   TICKETD_URL  EVENT_ID  SEAT_ID  EMAIL  PASSWORD  [CHROMIUM]
// Prints one JSON line; exits non-zero on any failure.
import { launch, need } from "./browser.mjs";

const base = need("TICKETD_URL");
const eventId = need("EVENT_ID");
const seatId = need("SEAT_ID");

const browser = await launch();
const problems = [];
try {
  const page = await (await browser.newContext()).newPage();
  page.on("pageerror", (e) => problems.push(e.message));
  await page.goto(`${base}/app/events/${eventId}`);
  await page.waitForSelector('body[data-live="true"]', { timeout: 15000 });
  await page.fill("#email", need("EMAIL"));
  await page.fill("#password", need("PASSWORD"));
  await page.click("#login-btn");
  await page.waitForSelector("#queue:not([hidden])", { timeout: 10000 });
  const waitingText = await page.textContent("#queue-text");
  if (!/number \d+ in line/.test(waitingText)) throw new Error(`unexpected waiting text: ${waitingText}`);
  const seat = `button.seat[data-id="${seatId}"]`;
  await page.click(seat);
  if (!(await page.isDisabled("#reserve"))) throw new Error("reserve is enabled while waiting");

  await page.waitForSelector('body[data-queue="ADMITTED"]', { timeout: 20000 });
  await page.waitForSelector("#queue", { state: "hidden", timeout: 1000 });
  const reserved = page.waitForResponse((r) => r.url().endsWith("/api/v1/reservations") && r.request().method() === "POST");
  await page.click("#reserve");
  const res = await reserved;
  const sent = JSON.parse(res.request().postData() || "{}");
  if (res.status() !== 201) throw new Error(`reserve answered ${res.status()}: ${await res.text()}`);
  if (!sent.admissionToken) throw new Error("the reserve did not carry the admission token");
  await page.waitForSelector("#hold:not([hidden])", { timeout: 5000 });
  if (problems.length) throw new Error("page errors:\n" + problems.join("\n"));
  console.log(JSON.stringify({ ok: true, waitingText }));
} finally {
  await browser.close();
}
