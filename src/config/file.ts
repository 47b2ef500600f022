import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { z } from "zod";
import { UsageError } from "../core/errors.js";
import { VerifySectionSchema } from "./verify-config.js";
import { issueLines, parseLabSection, type LabSettingsInput } from "./lab-config.js";

/**
 * The optional JSON config file (`--config FILE` or PBX_CUTOVER_CONFIG). Read only when it is a
 * regular file of at most 1 MiB (never a device, FIFO or directory: `/dev/zero` would grow without
 * end, a FIFO would block). Every section is checked here, whichever command runs: unknown keys at
 * every level (`__proto__` and `constructor` included) and wrong types are errors naming the key
 * path, even when a flag overrides that key.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const ConfigFileSchema = z
  .object({
    lab: z.unknown().optional(),
    verify: z.unknown().optional(),
  })
  .strict();

export interface ConfigFile {
  path: string | undefined;
  lab: LabSettingsInput | undefined;
  raw: Record<string, unknown>;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a file";
}

/** The file's text: a regular file of at most MAX_CONFIG_BYTES, read without blocking on a FIFO. */
function readConfigText(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new UsageError(
      `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; nothing was started or changed`,
    );
  }
  try {
    const st = fstatSync(fd);
    const tooBig = (bytes: number): UsageError =>
      new UsageError(
        `config file ${file} is ${bytes} bytes; the limit is 1 MiB (${MAX_CONFIG_BYTES} bytes); nothing was started or changed`,
      );
    if (!st.isFile()) {
      throw new UsageError(
        `config file ${file} is not a regular file (${kindOf(st)}); nothing was started or changed`,
        ["pass a JSON file with --config (or PBX_CUTOVER_CONFIG)"],
      );
    }
    if (st.size > MAX_CONFIG_BYTES) throw tooBig(st.size);
    // the file may grow while it is read: never read more than the limit
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > MAX_CONFIG_BYTES) throw tooBig(n);
    }
    return buf.subarray(0, n).toString("utf8");
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(
      `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; nothing was started or changed`,
    );
  } finally {
    closeSync(fd);
  }
}

/** The one function that reads the config file from disk. */
export function loadConfigFile(explicitPath: string | undefined): ConfigFile {
  const file = explicitPath ?? process.env["PBX_CUTOVER_CONFIG"];
  if (file === undefined || file === "") return { path: undefined, lab: undefined, raw: {} };
  const text = readConfigText(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(
      `config file ${file} is not valid JSON: ${(err as Error).message}; nothing was started or changed`,
    );
  }
  const source = `config file ${file}`;
  const invalid = (lines: string[]): UsageError =>
    new UsageError(`${source}: ${lines[0]}; nothing was started or changed`, lines.slice(1));
  const parsed = ConfigFileSchema.safeParse(json);
  if (!parsed.success) throw invalid(issueLines(parsed.error.issues, ""));
  const raw = json as Record<string, unknown>;
  const lab = raw["lab"] === undefined ? undefined : parseLabSection(raw["lab"], source);
  if (raw["verify"] !== undefined) {
    const v = VerifySectionSchema.safeParse(raw["verify"]);
    if (!v.success) throw invalid(issueLines(v.error.issues, "verify"));
  }
  return { path: file, lab, raw };
}
