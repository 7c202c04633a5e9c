// Runs the console's unit tests (*.test.ts here) with Node's test runner:
// each is bundled by esbuild first (gen/ts resolves its imports from
// clients/node_modules, which Node's own resolver would not find).
//
//   node clients/web/console/test.mjs
import { readdir, mkdtemp, rm } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { build } from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const tests = (await readdir(here)).filter((f) => f.endsWith(".test.ts"));
const out = await mkdtemp(path.join(tmpdir(), "console-tests-"));
try {
  await build({
    entryPoints: tests.map((f) => path.join(here, f)),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir: out,
    outExtension: { ".js": ".mjs" },
    logLevel: "error",
    nodePaths: [path.join(here, "..", "..", "node_modules")],
  });
  const files = tests.map((f) => path.join(out, f.replace(/\.ts$/, ".mjs")));
  const run = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
  process.exitCode = run.status ?? 1;
} finally {
  await rm(out, { recursive: true, force: true });
}
