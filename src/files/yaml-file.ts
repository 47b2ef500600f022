/**
 * The one reader of the YAML files a user hands the tool (a plan, a target): a regular file of at
 * most 1 MiB, parsed as YAML (JSON is YAML too) with duplicate keys refused. Every problem is a
 * UsageError (exit 2) naming the file, and nothing has been touched when it is thrown. `noun` names
 * the kind of file in messages ("plan", "target").
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { parseDocument } from "yaml";
import { UsageError } from "../core/errors.js";

export const MAX_YAML_FILE_BYTES = 1024 * 1024;

/** YAML text to plain data; `undefined` for an empty document. */
export function parseYamlData(text: string, source: string, noun: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    // the message ends "at line L, column C:" followed by the line itself
    const what = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:$/, "");
    const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}: ` : "";
    throw new UsageError(`${source} is not valid YAML: ${where}${what}; nothing was changed`);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) ?? undefined;
  } catch (err) {
    throw new UsageError(`${source} cannot be read as a ${noun}: ${(err as Error).message}; nothing was changed`);
  }
}

/** A regular file of at most MAX_YAML_FILE_BYTES, as text. */
export function readBoundedFile(file: string, noun: string): string {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO must not block the open; it is refused below as not a regular file
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${noun} file ${file}: ${code === "ENOENT" ? "no such file" : (code ?? String(err))}`,
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`${noun} file ${file} is not a regular file; pass a YAML file`);
    if (st.size > MAX_YAML_FILE_BYTES) {
      throw new UsageError(
        `${noun} file ${file} is ${st.size} bytes; a ${noun} file may be at most ${MAX_YAML_FILE_BYTES} bytes (1 MiB)`,
      );
    }
    // read at most the limit + 1 byte, whatever the size said (files under /proc report 0)
    const buf = Buffer.alloc(MAX_YAML_FILE_BYTES + 1);
    let len = 0;
    for (;;) {
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
      if (len > MAX_YAML_FILE_BYTES) {
        throw new UsageError(`${noun} file ${file} is larger than ${MAX_YAML_FILE_BYTES} bytes (1 MiB)`);
      }
    }
    return buf.subarray(0, len).toString("utf8");
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${noun} file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  } finally {
    closeSync(fd);
  }
}
