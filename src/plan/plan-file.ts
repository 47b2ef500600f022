/**
 * `--plan plan.yaml`: the one function that reads a plan file from disk (`readPlanFile`), and the
 * pure parse of its text (`parsePlanYaml`). A plan file is YAML (JSON is YAML too), at most 1 MiB,
 * a regular file; unknown keys anywhere are errors naming their path. Every problem is a
 * UsageError (exit 2) and nothing has been touched when it is thrown.
 *
 *   defaults:                       # optional, for every step that does not say
 *     hold: { durationS: 600, minCalls: 200 }
 *     gates:
 *       - { kind: relative, metric: ser, maxWorseBy: 2 }
 *       - { kind: threshold, metric: srd_p95, atMost: 800 }
 *     onInconclusive: extend
 *   steps:
 *     - 0
 *     - weightNew: 1
 *       hold: { durationS: 1800 }
 *     - 10
 *     - 100
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { parseDocument } from "yaml";
import { UsageError } from "../core/errors.js";
import { planFromInput, type Plan } from "./plan.js";

export const MAX_PLAN_FILE_BYTES = 1024 * 1024;

/** Parse plan text (YAML or JSON). `source` names the file in messages. */
export function parsePlanYaml(text: string, source: string): Plan {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    // the message ends "at line L, column C:" followed by the line itself
    const what = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:$/, "");
    const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}: ` : "";
    throw new UsageError(`${source} is not valid YAML: ${where}${what}; nothing was changed`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new UsageError(`${source} cannot be read as a plan: ${(err as Error).message}; nothing was changed`);
  }
  if (data === null || data === undefined) throw new UsageError(`${source} is empty; a plan needs at least \`steps:\``);
  return planFromInput(data, source);
}

/** Read and parse a plan file: a regular file of at most 1 MiB. */
export function readPlanFile(file: string): Plan {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO must not block the open; it is refused below as not a regular file
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read plan file ${file}: ${code === "ENOENT" ? "no such file" : (code ?? String(err))}`,
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`plan file ${file} is not a regular file; pass a YAML file`);
    if (st.size > MAX_PLAN_FILE_BYTES) {
      throw new UsageError(
        `plan file ${file} is ${st.size} bytes; a plan file may be at most ${MAX_PLAN_FILE_BYTES} bytes (1 MiB)`,
      );
    }
    // read at most the limit + 1 byte, whatever the size said (files under /proc report 0)
    const buf = Buffer.alloc(MAX_PLAN_FILE_BYTES + 1);
    let len = 0;
    for (;;) {
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
      if (len > MAX_PLAN_FILE_BYTES) {
        throw new UsageError(`plan file ${file} is larger than ${MAX_PLAN_FILE_BYTES} bytes (1 MiB)`);
      }
    }
    return parsePlanYaml(buf.subarray(0, len).toString("utf8"), file);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read plan file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  } finally {
    closeSync(fd);
  }
}
