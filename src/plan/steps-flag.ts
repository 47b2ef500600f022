/**
 * `--steps 0,1,10,50,100` (pure): the new backend's weight per step, comma-separated; every other
 * setting of a step is the plan default (DEFAULT_STEP). Bad input is a UsageError (exit 2) with
 * one line saying what was wrong.
 */
import { UsageError } from "../core/errors.js";
import { planFromInput, type Plan } from "./plan.js";

export function parseStepsFlag(raw: string, flag = "--steps"): Plan {
  const text = raw.trim();
  const hint = `give the new backend's weight per step, e.g. ${flag} 0,10,50,100`;
  if (text === "") throw new UsageError(`${flag} is empty; ${hint}`);
  const parts = text.split(",").map((p) => p.trim());
  const weights: number[] = [];
  for (const [i, p] of parts.entries()) {
    if (p === "") throw new UsageError(`${flag} ${JSON.stringify(raw)}: step ${i + 1} is empty; ${hint}`);
    if (!/^\d{1,3}$/.test(p) || Number(p) > 100) {
      throw new UsageError(
        `${flag} ${JSON.stringify(raw)}: step ${i + 1} ${JSON.stringify(p)} is not a whole number from 0 to 100; ${hint}`,
      );
    }
    weights.push(Number(p));
  }
  for (let i = 1; i < weights.length; i++) {
    if (weights[i]! <= weights[i - 1]!) {
      throw new UsageError(
        `${flag} ${JSON.stringify(raw)}: step ${i + 1} (${weights[i]}) does not increase on step ${i} (${weights[i - 1]}); weights must increase towards 100`,
      );
    }
  }
  return planFromInput({ steps: weights }, `${flag} ${text}`);
}
