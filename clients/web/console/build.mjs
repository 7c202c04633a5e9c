// Builds the console into gen/console/ (run by `make gen`): index.html,
// console.css and one minified ES module, console.js, with Preact and the
// generated clients inside. The output is committed, embedded in the server
// binary, and `make gen-check` fails when it is stale.
//
//   node clients/web/console/build.mjs [OUT_DIR]
import { mkdir, copyFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { build } from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] ?? path.join(here, "..", "..", "..", "gen", "console"));
await mkdir(out, { recursive: true });
const result = await build({
  entryPoints: [path.join(here, "main.tsx")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  jsx: "automatic",
  jsxImportSource: "preact",
  write: false,
  logLevel: "error",
  // gen/ts sits outside clients/; its imports resolve from clients/node_modules.
  nodePaths: [path.join(here, "..", "..", "node_modules")],
});
const script = result.outputFiles[0].contents;
await writeFile(path.join(out, "console.js"), script);
await copyFile(path.join(here, "index.html"), path.join(out, "index.html"));
await copyFile(path.join(here, "console.css"), path.join(out, "console.css"));
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
console.log(`gen/console/console.js: ${kib(script.length)}, ${kib(gzipSync(script).length)} gzipped`);
