/**
 * A run's third evidence source on a lab of real FreeSWITCH (sim; migrate --traffic with audio): both
 * backends' event sockets (channel-watch.ts), subscribed before the first call from the lab's settings as the
 * command resolved them (a running lab's own, from its lab.json: ports) and the secret files
 * (passwords, used on the sockets only). Each event is written to `freeswitch-<role>.events.ndjson`
 * in the run folder when the run ends.
 */
import path from "node:path";
import { EnvironmentError } from "../core/errors.js";
import type { Scope } from "../core/scope.js";
import { FileMode, writeFileAtomicAsync } from "../files/atomic-write.js";
import { watchChannels, type ChannelWatch } from "./channel-watch.js";
import { eventSocketOf } from "../lab/freeswitch/instance.js";
import type { LabSettings } from "../config/lab-config.js";
import type { BackendRole } from "../core/backend-role.js";
import type { FreeswitchCall, PbxCalls } from "./event-socket.js";

/** The PBXs' own account of the calls, as a run reads it. */
export interface PbxEvidence {
  /** every call each FreeSWITCH reported so far */
  calls(): PbxCalls;
  /** the call as `role`'s FreeSWITCH reported it so far, when it did */
  call(role: BackendRole, callId: string): FreeswitchCall | undefined;
  /** poll until `pred` holds, at most `ms` */
  until(pred: () => boolean, ms: number, signal: AbortSignal): Promise<boolean>;
  /** for results.json's evidence.eventSocket */
  summary(): Record<string, unknown>;
}

export const PBX_EVENTS_FILE = (role: BackendRole): string => `freeswitch-${role}.events.ndjson`;

/** `s`: the settings of the lab the run made sure is up (backends freeswitch). */
export async function watchPbxChannels(
  s: LabSettings,
  runDir: string,
  scope: Scope,
  log: (line: string) => void,
): Promise<PbxEvidence> {
  let watch: ChannelWatch;
  try {
    const ep = (role: BackendRole) => ({ ...eventSocketOf(s, role) });
    watch = await watchChannels({ old: ep("old"), new: ep("new") });
  } catch (err) {
    throw new EnvironmentError(
      `the FreeSWITCH event sockets do not accept a channel-event subscription: ${(err as Error).message}; no call was made`,
      [
        "check `pbx-cutover lab status` (both FreeSWITCH alive, their versions read), or restart the lab: lab down, lab up --backends freeswitch",
      ],
    );
  }
  const w = watch;
  scope.defer("event sockets", async () => {
    await w.close();
    for (const role of ["old", "new"] as const) {
      const text = w.events[role].map((e) => JSON.stringify(e)).join("\n");
      await writeFileAtomicAsync(path.join(runDir, PBX_EVENTS_FILE(role)), text ? text + "\n" : "", {
        mode: FileMode.public,
      });
    }
  });
  log(
    `evidence: event sockets of old (${s.old.address}:${s.freeswitch.old.eventSocketPort}) and new (${s.new.address}:${s.freeswitch.new.eventSocketPort}) subscribed to channel events; ` +
      `${PBX_EVENTS_FILE("old")} and ${PBX_EVENTS_FILE("new")} in the run folder`,
  );
  let lostLogged = false;
  return {
    calls: () => {
      if (!lostLogged && Object.keys(w.lostAt).length > 0) {
        lostLogged = true;
        for (const [role, at] of Object.entries(w.lostAt))
          log(
            `  event socket of ${role} closed at ${new Date(at).toISOString()} (FreeSWITCH stopped?); its account ends there`,
          );
      }
      return { old: w.books.old.all(), new: w.books.new.all() };
    },
    call: (role, callId) => w.books[role].get(callId),
    until: (pred, ms, signal) => w.until(pred, ms, signal),
    summary: () => {
      const of = (role: BackendRole) => ({
        endpoint: `${s[role].address}:${s.freeswitch[role].eventSocketPort}`,
        events: w.events[role].length,
        calls: w.books[role].all().length,
        file: PBX_EVENTS_FILE(role),
        ...(w.lostAt[role] !== undefined ? { closedEarlyAt: new Date(w.lostAt[role]).toISOString() } : {}),
      });
      return { old: of("old"), new: of("new") };
    },
  };
}
