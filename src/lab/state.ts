import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { z } from "zod";
import { LabSettingsSchema } from "../config/lab-config.js";
import type { LabPaths } from "./layout.js";

const ComponentSchema = z.object({
  role: z.enum(["kamailio", "old", "new"]),
  pid: z.number().int(),
  /** /proc/<pid>/comm of the group leader, guards against pid reuse */
  comm: z.string(),
  address: z.string(),
  port: z.number().int(),
  log: z.string(),
  argv: z.array(z.string()),
});

export const LabStateSchema = z.object({
  version: z.literal(1),
  driver: z.literal("native"),
  startedAt: z.string(),
  settings: LabSettingsSchema,
  components: z.array(ComponentSchema),
});

export type LabState = z.infer<typeof LabStateSchema>;
export type ComponentState = z.infer<typeof ComponentSchema>;

export function readLabState(p: LabPaths): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(p.state, "utf8");
  } catch {
    return undefined;
  }
  const parsed = LabStateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`lab state ${p.state} is not understood: ${parsed.error.message}`);
  return parsed.data;
}

export function writeLabState(p: LabPaths, state: LabState): void {
  const tmp = `${p.state}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  renameSync(tmp, p.state);
}

export function removeLabState(p: LabPaths): void {
  rmSync(p.state, { force: true });
}
