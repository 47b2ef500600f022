import assert from "node:assert/strict";
import type { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import type { Command } from "commander";
import { buildProgram } from "./program.js";

/** What `pbx-cutover <path> --help` prints, including text added after the generated part. */
async function helpOf(...names: string[]): Promise<string> {
  let cmd: Command = await buildProgram(["node", "pbx-cutover"]);
  for (const n of names) cmd = cmd.commands.find((c) => c.name() === n)!;
  let after = "";
  (cmd as unknown as EventEmitter).emit("afterHelp", {
    error: false,
    command: cmd,
    write: (s: string) => (after += s),
  });
  return (cmd.helpInformation() + after).replace(/\s+/g, " ");
}

describe("--help says what the commands do today", () => {
  test("no command claims what is no longer so, and none names the legacy lab by an undefined word", async () => {
    const program = await buildProgram(["node", "pbx-cutover"]);
    const paths = [
      [],
      ...program.commands.flatMap((c) => [[c.name()], ...c.commands.map((s) => [c.name(), s.name()])]),
    ];
    for (const p of paths) {
      const text = await helpOf(...p);
      const where = ["pbx-cutover", ...p, "--help"].join(" ");
      assert.doesNotMatch(text, /not built yet/, where);
      assert.doesNotMatch(text, /old and new SIPp backends/, where);
      assert.doesNotMatch(text, /the seed's|\(seed:/, where);
      assert.doesNotMatch(text, /see README/, where);
    }
  });

  test("plan shows a plan and names the command that runs one", async () => {
    const text = await helpOf("plan");
    assert.match(text, /--dry-run is required/);
    assert.match(text, /`pbx-cutover migrate --steps\/--plan` runs the plan/);
  });

  test("lab names every kind of backend and the docker driver", async () => {
    const text = await helpOf("lab");
    assert.match(text, /SIPp stand-ins \(--backends sipp, the default\)/);
    assert.match(text, /real FreeSWITCH 1\.10\.3 and 1\.10\.12 \(--backends freeswitch/);
    assert.match(text, /--fusionpbx adds FusionPBX 5\.3\.0 and 5\.5\.7/);
    assert.match(text, /--driver docker runs the Docker lab/);
  });

  test("migrate runs plans with gates, rollback, drain and operator control", async () => {
    const text = await helpOf("migrate");
    for (const phrase of [
      /--steps or --plan/,
      /--traffic by live calls/,
      /roll back to the last good step/,
      /--drain-timeout/,
      /pause, resume, promote and abort/,
    ]) {
      assert.match(text, phrase);
    }
  });

  test("the top-level list summarises each command in a line or two", async () => {
    const text = await helpOf();
    assert.match(text, /plan \[options\] what a plan would do \(--dry-run\)/);
    assert.match(
      text,
      /migrate \[options\] cut routing over step by step: gates, automatic rollback, drain, operator control/,
    );
    assert.match(text, /status \[options\] the running migrate's step/);
  });
});
