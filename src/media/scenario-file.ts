/**
 * The UAC scenario with audio and its tone written into a run folder (uac-call-media.xml, tone.pcmu):
 * what a SIPp caller that streams audio runs.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { FileMode, writeFileAtomicAsync } from "../files/atomic-write.js";
import { mediaScenario, pcmuTone } from "../sipp/media.js";

/** Write the tone and `scenario` with its media action into `runDir`; the scenario's path. */
export async function mediaScenarioFile(scenario: string, runDir: string): Promise<string> {
  const tone = path.join(runDir, "tone.pcmu");
  await writeFileAtomicAsync(tone, pcmuTone(), { mode: FileMode.public });
  const file = path.join(runDir, "uac-call-media.xml");
  await writeFileAtomicAsync(file, mediaScenario(await readFile(scenario, "utf8"), tone), { mode: FileMode.public });
  return file;
}
