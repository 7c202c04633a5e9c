// Bundles main.ts (or the page of --entry) with esbuild, serves it on a loopback port, opens it in
// headless Chromium (playwright-core, Debian's /usr/bin/chromium) and prints
// every report of the page as one JSON line on stdout.
//
//   node clients/web/run-in-chromium.mjs --server URL --token JWT [--entry FILE.ts]
//     [--resume-after N] [--client ID] [--reports N] [--seconds S]
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { build } from "esbuild";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const server = option("--server", "http://127.0.0.1:3001");
const token = option("--token", "");
const resumeAfter = option("--resume-after", "0");
const entry = option("--entry", "main.ts");
const client = option("--client", "");
const wanted = Number(option("--reports", "1"));
const seconds = Number(option("--seconds", "30"));

const bundle = await build({
  entryPoints: [path.join(here, entry)],
  bundle: true,
  format: "esm",
  target: "es2022",
  write: false,
  logLevel: "error",
  // gen/ts sits outside clients/; its imports resolve from clients/node_modules.
  nodePaths: [path.join(here, "..", "node_modules")],
});
const html = await readFile(path.join(here, "index.html"));
const pages = createServer((request, response) => {
  if (request.url.startsWith("/main.js")) {
    response.writeHead(200, { "content-type": "text/javascript" });
    response.end(bundle.outputFiles[0].contents);
  } else {
    response.writeHead(200, { "content-type": "text/html" });
    response.end(html);
  }
});
await new Promise((resolve) => pages.listen(0, "127.0.0.1", resolve));
const pageUrl = `http://127.0.0.1:${pages.address().port}/?` +
  new URLSearchParams({ server, token, resumeAfter, client }).toString();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let seen = 0;
let finish;
const finished = new Promise((resolve) => { finish = resolve; });
const page = await browser.newPage();
await page.exposeFunction("switchboardReport", (report) => {
  process.stdout.write(JSON.stringify(report) + "\n");
  if (report.kind === "error" || ++seen >= wanted) finish(report.kind === "error" ? 3 : 0);
});
page.on("pageerror", (error) => {
  process.stdout.write(JSON.stringify({ kind: "error", message: String(error) }) + "\n");
  finish(3);
});
await page.goto(pageUrl);
const timer = setTimeout(() => finish(1), seconds * 1000);
const code = await finished;
clearTimeout(timer);
await browser.close();
pages.close();
process.exit(code);
