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
import { UsageError } from "../core/errors.js";
import { MAX_YAML_FILE_BYTES, parseYamlData, readBoundedFile } from "../files/yaml-file.js";
import { planFromInput, type Plan } from "./plan.js";

export const MAX_PLAN_FILE_BYTES = MAX_YAML_FILE_BYTES;

/** Parse plan text (YAML or JSON). `source` names the file in messages. */
export function parsePlanYaml(text: string, source: string): Plan {
  const data = parseYamlData(text, source, "plan");
  if (data === null || data === undefined) throw new UsageError(`${source} is empty; a plan needs at least \`steps:\``);
  return planFromInput(data, source);
}

/** Read and parse a plan file: a regular file of at most 1 MiB. */
export function readPlanFile(file: string): Plan {
  return parsePlanYaml(readBoundedFile(file, "plan"), file);
}
