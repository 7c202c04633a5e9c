// Drives the console in headless Chromium for the tests (playwright-core,
// Debian's /usr/bin/chromium): reads one JSON command per line on stdin,
// answers one JSON line per command on stdout, so that a test can act on
// the phone system between two steps of the page.
//
//   node clients/web/console/drive.mjs [--screenshots DIR]
//
// Commands ({"do": …}):
//   open {url, width?, height?}       a new page at that size (1366×768 by default)
//   resize {width, height}
//   wait {selector, text?, timeout?}  until an element (containing text) is visible; answers its text
//   gone {selector, text?, timeout?}  until no such element is visible
//   text {selector}                   the element's text
//   count {selector}                  how many elements match
//   click {selector, text?}           clicks the first match (containing text)
//   fill {selector, value}            types into an input
//   select {selector, value}          picks an option
//   press {key}                       a key on the focused element
//   screenshot {name}                 writes DIR/name.png
//   audit {}                          controls without a name, and what Tab reaches
//   close {}                          ends; answers the console errors seen
// Every answer is {ok, …}, with `errors` (console errors and page errors so far).
import { mkdir } from "node:fs/promises";
import { createInterface } from "node:readline";
import path from "node:path";
import { chromium } from "playwright-core";

const args = process.argv.slice(2);
const at = args.indexOf("--screenshots");
const shots = at >= 0 ? args[at + 1] : "target/console-screenshots";
await mkdir(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const errors = [];
let page;

const locate = ({ selector, text }) => {
  const all = page.locator(selector);
  return (text ? all.filter({ hasText: text }) : all).first();
};

/** Names every control without an accessible name, and what Tab reaches from the top. */
async function audit() {
  const unnamed = await page.evaluate(() => {
    const name = (el) =>
      (el.getAttribute("aria-label") ?? "").trim() ||
      (el.labels && [...el.labels].map((l) => l.textContent).join(" ").trim()) ||
      (el.tagName === "BUTTON" || el.tagName === "A" ? el.textContent.trim() : "");
    return [...document.querySelectorAll("button, a[href], input, select, textarea")]
      .filter((el) => !name(el))
      .map((el) => el.outerHTML.slice(0, 120));
  });
  await page.evaluate(() => document.activeElement?.blur());
  const reached = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press("Tab");
    const what = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      return `${el.tagName.toLowerCase()}:${(el.getAttribute("aria-label") || el.textContent || el.getAttribute("name") || "").trim().slice(0, 40)}`;
    });
    if (what) reached.push(what);
  }
  return { unnamed, reached };
}

async function perform(command) {
  const timeout = command.timeout ?? 15000;
  switch (command.do) {
    case "open": {
      page = await browser.newPage({ viewport: { width: command.width ?? 1366, height: command.height ?? 768 } });
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(`console: ${message.text()}`);
      });
      page.on("pageerror", (error) => errors.push(`page: ${error.message}`));
      await page.goto(command.url);
      return {};
    }
    case "resize":
      await page.setViewportSize({ width: command.width, height: command.height });
      return { overflow: await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth) };
    case "wait": {
      const element = locate(command);
      await element.waitFor({ state: "visible", timeout });
      return { text: await element.innerText() };
    }
    case "gone":
      await locate(command).waitFor({ state: "hidden", timeout });
      return {};
    case "text":
      return { text: await locate(command).innerText({ timeout }) };
    case "count":
      return { count: await page.locator(command.selector).count() };
    case "click":
      await locate(command).click({ timeout });
      return {};
    case "fill":
      await locate(command).fill(command.value, { timeout });
      return {};
    case "select":
      await locate(command).selectOption(command.value, { timeout });
      return {};
    case "press":
      await page.keyboard.press(command.key);
      return {};
    case "screenshot": {
      const file = path.join(shots, `${command.name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return { file };
    }
    case "audit":
      return await audit();
    case "close":
      await browser.close();
      return { closed: true };
    default:
      throw new Error(`unknown command ${command.do}`);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    const command = JSON.parse(line);
    answer = { ok: true, ...(await perform(command)), errors };
    if (command.do === "close") {
      process.stdout.write(JSON.stringify(answer) + "\n");
      process.exit(0);
    }
  } catch (error) {
    answer = { ok: false, message: String(error?.message ?? error).split("\n").slice(0, 6).join("\n"), errors };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await browser.close();
