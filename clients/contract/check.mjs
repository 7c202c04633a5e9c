// Checks gen/ with the tools its users load it in: the AsyncAPI document with
// AsyncAPI's official parser (the one AsyncAPI Studio, the generator and the
// CLI use), and every JSON Schema of gen/jsonschema/ against the JSON Schema
// 2020-12 meta-schema with Ajv, each then compiled (so every reference
// resolves); then TypeScript models are generated from the AsyncAPI document
// with AsyncAPI's Modelina, as a contract-testing team would generate its
// client or mock. Prints one line per problem; exits 1 when there is any.
//
//   node clients/contract/check.mjs [GEN_DIR]     (make gen-check runs it)
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { TypeScriptGenerator } from "@asyncapi/modelina";

const here = path.dirname(fileURLToPath(import.meta.url));
const gen = process.argv[2] ?? path.join(here, "..", "..", "gen");
const problems = [];

// The AsyncAPI document: no diagnostic of error severity, and a document out.
const asyncapiFile = path.join(gen, "asyncapi", "socketio.asyncapi.json");
const { document, diagnostics } = await new Parser().parse(await readFile(asyncapiFile, "utf8"));
for (const d of diagnostics) {
  if (d.severity === DiagnosticSeverity.Error) {
    problems.push(`${asyncapiFile}: ${d.code} at ${d.path.join(".")}: ${d.message}`);
  }
}
if (document === undefined && problems.length === 0) {
  problems.push(`${asyncapiFile}: the parser returned no document`);
}
let messages = 0;
if (document !== undefined) {
  for (const message of document.allMessages()) {
    messages += 1;
    if (!message.hasPayload()) problems.push(`${asyncapiFile}: message ${message.id()} has no payload`);
  }
}

// Models generated from the document unchanged: one per payload or shared
// schema, and the shared ones under their proto names.
const asyncapi = JSON.parse(await readFile(asyncapiFile, "utf8"));
let models = [];
try {
  models = await new TypeScriptGenerator({ modelType: "interface" }).generate(asyncapi);
} catch (error) {
  problems.push(`${asyncapiFile}: Modelina cannot generate models: ${error.message}`);
}
const modelNames = new Set(models.map((m) => m.modelName));
for (const name of Object.keys(asyncapi.components?.schemas ?? {})) {
  if (!modelNames.has(name)) problems.push(`${asyncapiFile}: no model generated for components.schemas.${name}`);
}

// The JSON Schemas: valid against their meta-schema, and compilable.
const schemaDir = path.join(gen, "jsonschema");
const files = (await readdir(schemaDir)).filter((f) => f.endsWith(".schema.json")).sort();
for (const file of files) {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  const schema = JSON.parse(await readFile(path.join(schemaDir, file), "utf8"));
  if (!ajv.validateSchema(schema)) {
    problems.push(`${file}: ${ajv.errorsText(ajv.errors)}`);
    continue;
  }
  try {
    ajv.compile(schema);
  } catch (error) {
    problems.push(`${file}: ${error.message}`);
  }
}

for (const problem of problems) console.error(problem);
if (problems.length > 0) {
  console.error(`contract check: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`contract check: the AsyncAPI document parses (${messages} messages) and generates ${models.length} TypeScript models; ${files.length} JSON Schemas are valid 2020-12 schemas`);
