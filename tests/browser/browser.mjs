// What both browser tests share: their settings from the environment (set by
// tests/e2e/test_browser.py) and a headless Chromium (Debian's `chromium`, or CHROMIUM) launched
// quietly: no background networking, updates or first-run UI; no sandbox only as root.
import process from "node:process";
import { chromium } from "playwright-core";

export const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

export const launch = () => {
  const args = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
    "--disable-dev-shm-usage",
  ];
  if (process.getuid && process.getuid() === 0) args.push("--no-sandbox");
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  return chromium.launch({ executablePath, args, headless: true });
};
