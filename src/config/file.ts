import { readFileSync } from "node:fs";
import { z } from "zod";
import { UsageError } from "../cli/errors.js";
import type { LabSettingsInput } from "./lab-config.js";

/**
 * The optional JSON config file (`--config FILE` or PBX_CUTOVER_CONFIG). Sections are
 * validated in full by the code that owns them; here only the shape of the top level.
 */
const ConfigFileSchema = z
  .object({
    lab: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

export interface ConfigFile {
  path: string | undefined;
  lab: LabSettingsInput | undefined;
  raw: Record<string, unknown>;
}

/** The one function that reads the config file from disk. */
export function loadConfigFile(explicitPath: string | undefined): ConfigFile {
  const file = explicitPath ?? process.env["PBX_CUTOVER_CONFIG"];
  if (file === undefined || file === "") return { path: undefined, lab: undefined, raw: {} };
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = ConfigFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new UsageError(
      `config file ${file} is invalid`,
      parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`),
    );
  }
  return { path: file, lab: parsed.data.lab, raw: parsed.data };
}
