/**
 * Writes docs/reference/cli.md from the commander definitions (src/cli/cli-reference.ts).
 * Usage: npm run -s build && node dist/scripts/gen-cli-reference.js
 * src/cli/cli-reference.test.ts fails `make test` when the checked-in file differs from this output.
 */
import fs from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "../src/core/assets.js";
import { CLI_REFERENCE_PATH, cliReference } from "../src/cli/cli-reference.js";
import { buildProgram } from "../src/cli/program.js";

const file = path.join(PROJECT_ROOT, CLI_REFERENCE_PATH);
const text = cliReference(await buildProgram(["node", "pbx-cutover"]));
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, text);
process.stdout.write(`wrote ${CLI_REFERENCE_PATH} (${text.split("\n").length - 1} lines)\n`);
