import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type { Command } from "commander";
import { PROJECT_ROOT } from "../core/assets.js";
import { CLI_REFERENCE_COMMAND, CLI_REFERENCE_PATH, cliReference } from "./cli-reference.js";
import { buildProgram } from "./program.js";

const everyCommand = (): Promise<Command> => buildProgram(["node", "pbx-cutover"]);

function commandsOf(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...commandsOf(c)]);
}

test(`${CLI_REFERENCE_PATH} is what the commander definitions give (regenerate: ${CLI_REFERENCE_COMMAND})`, async () => {
  const generated = cliReference(await everyCommand());
  const file = path.join(PROJECT_ROOT, CLI_REFERENCE_PATH);
  const checkedIn = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  if (checkedIn !== generated) {
    const a = checkedIn.split("\n");
    const b = generated.split("\n");
    const at = a.findIndex((line, i) => line !== b[i]);
    assert.fail(
      `${CLI_REFERENCE_PATH} differs from the CLI's definitions (first at line ${at + 1}:\n` +
        `  checked in: ${JSON.stringify(a[at])}\n  generated:  ${JSON.stringify(b[at])});\n` +
        `regenerate it: ${CLI_REFERENCE_COMMAND}`,
    );
  }
});

test("the reference names every command and every option, with its default", async () => {
  const program = await everyCommand();
  const md = cliReference(program);
  for (const cmd of commandsOf(program)) {
    assert.ok(
      md.includes(
        `\`pbx-cutover ${cmd.parent?.name() === "pbx-cutover" ? "" : `${cmd.parent?.name()} `}${cmd.name()}\``,
      ),
    );
    for (const o of cmd.options) assert.ok(md.includes(`\`${o.long}`), `${cmd.name()}: ${o.long} missing`);
  }
  assert.match(md, /`--reload-delta <s>` \| dispatcher reload_delta in seconds \(default 0 in the lab/);
  assert.match(md, /`--artifacts-dir <dir>` \| where run-YYYYmmdd_HHMMSS\/ folders .* \(default: "artifacts"\)/);
  assert.match(md, /`--hep-mirror <on\\\|off>`/, "a pipe inside a table's code span is escaped");
  assert.match(md, /^## Exit codes\n\n```text\nExit codes:\n {4}0 {2}everything asked for passed$/m);
});
