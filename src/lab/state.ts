import { readFileSync, renameSync, rmSync } from "node:fs";
import { z } from "zod";
import { EnvironmentError, fileFault } from "../core/errors.js";
import { LabSettingsSchema } from "../config/lab-config.js";
import { FileMode, writeFileAtomic } from "../files/atomic-write.js";
import type { RunningLab } from "../config/lab-config.js";
import { labPaths, type LabPaths } from "../config/lab-paths.js";
import { ownershipOf } from "../os/ownership.js";

const ComponentSchema = z.object({
  role: z.enum(["kamailio", "old", "new", "postgres", "fusionpbx-old", "fusionpbx-new", "rtpengine"]),
  pid: z.number().int(),
  /** /proc/<pid>/comm of the program (informational; wrappers may show another name at first) */
  comm: z.string(),
  /**
   * /proc/<pid>/stat field 22 (start time in clock ticks since boot) of the group leader: with the
   * command line naming the lab dir, this is what makes the pid ours (pid reuse guard). Absent in
   * files written before it was recorded (then only the command line is checked).
   */
  startTime: z.string().optional(),
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

/** lab.json exists but cannot be understood (truncated, edited, written by something else). Exit 3. */
export class LabStateCorruptError extends EnvironmentError {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`the lab state file ${file} is corrupt (${reason}); nothing was started or stopped`, [
      `\`pbx-cutover lab down --lab-dir ${file.replace(/\/lab\.json$/, "")}\` stops this lab's processes (found by their command line) and moves the file aside;`,
      "or look at the file, stop what it names yourself, and remove it",
    ]);
  }
}

/** The lab's recorded state; undefined when there is none; LabStateCorruptError (exit 3) when unreadable. */
export function readLabState(p: LabPaths): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(p.state, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR")
      return undefined;
    throw fileFault(err, p.state, "read");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new LabStateCorruptError(p.state, text.trim() === "" ? "empty" : `not JSON: ${(err as Error).message}`);
  }
  const parsed = LabStateSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new LabStateCorruptError(
      p.state,
      `not a lab state: ${first ? `${first.path.join(".") || "(root)"}: ${first.message}` : "unknown shape"}`,
    );
  }
  return parsed.data;
}

/** A running lab's recorded settings (lab dir as asked) and the whole state file they came from. */
export interface RunningLabState extends RunningLab {
  state: LabState;
}

/**
 * The lab running in `labDir` (at least one recorded process is alive and ours), or undefined: none
 * recorded, all dead, or a state file that cannot be read (the command itself reports that one).
 */
export function runningLabIn(labDir: string): RunningLabState | undefined {
  let state: LabState | undefined;
  try {
    state = readLabState(labPaths(labDir));
  } catch {
    return undefined;
  }
  if (state === undefined || !state.components.some((c) => ownershipOf(c, labDir).kind === "ours")) return undefined;
  return { settings: { ...state.settings, labDir }, state };
}

export function writeLabState(p: LabPaths, state: LabState): void {
  writeFileAtomic(p.state, JSON.stringify(state, null, 2) + "\n", { mode: FileMode.public });
}

export function removeLabState(p: LabPaths): void {
  rmSync(p.state, { force: true });
}

/** Move a corrupt state file aside (kept for inspection); returns where it went. */
export function setAsideCorruptState(p: LabPaths): string {
  const aside = `${p.state}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  try {
    renameSync(p.state, aside);
  } catch (err) {
    throw fileFault(err, p.state, "move aside");
  }
  return aside;
}
