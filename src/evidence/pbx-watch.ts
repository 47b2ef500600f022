/**
 * A run's third evidence source on a lab of real FreeSWITCH (sim; migrate --traffic with audio): both
 * backends' event sockets (channel-watch.ts), subscribed before the first call from the lab's settings as the
 * command resolved them (a running lab's own, from its lab.json: ports) and the secret files
 * (passwords, used on the sockets only). Each event is appended to `freeswitch-<role>.events.ndjson`
 * in the run folder as it arrives, and kept nowhere else. A long run (`bounded`) keeps a call's state
 * only while its channel is up and until the run released it (its row written).
 */
import path from "node:path";
import { EnvironmentError } from "../core/errors.js";
import type { Scope } from "../core/scope.js";
import { openLineLog } from "../files/atomic-write.js";
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
  /** the run is done with this call (its row is written): a bounded watch lets it go */
  release(callId: string): void;
  /** for results.json's evidence.eventSocket */
  summary(): Record<string, unknown>;
}

/**
 * A bounded watch lets a finished call go this long after its CHANNEL_HANGUP_COMPLETE when the run
 * never released it (a call whose row was never written): room for a count running minutes behind
 */
export const PBX_KEEP_FINISHED_MS = 5 * 60_000;

export const PBX_EVENTS_FILE = (role: BackendRole): string => `freeswitch-${role}.events.ndjson`;

/**
 * `s`: the settings of the lab the run made sure is up (backends freeswitch). `bounded`: calls are let
 * go once released (migrate --traffic, which writes each call's row as it goes); otherwise every
 * call of the run is kept (sim judges them all at its end).
 */
export async function watchPbxChannels(
  s: LabSettings,
  runDir: string,
  scope: Scope,
  log: (line: string) => void,
  bounded = false,
): Promise<PbxEvidence> {
  const files = {
    old: openLineLog(path.join(runDir, PBX_EVENTS_FILE("old"))),
    new: openLineLog(path.join(runDir, PBX_EVENTS_FILE("new"))),
  };
  scope.defer("event socket files", () => {
    files.old.close();
    files.new.close();
  });
  let watch: ChannelWatch;
  try {
    const ep = (role: BackendRole) => ({ ...eventSocketOf(s, role) });
    watch = await watchChannels(
      { old: ep("old"), new: ep("new") },
      {
        onEvent: (role, e) => files[role].append(JSON.stringify(e)),
        ...(bounded ? { retention: { keepFinishedMs: PBX_KEEP_FINISHED_MS } } : {}),
      },
    );
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
      const fault = files[role].fault;
      if (fault !== undefined) throw fault as Error;
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
    release: (callId) => {
      w.books.old.release(callId);
      w.books.new.release(callId);
    },
    until: (pred, ms, signal) => w.until(pred, ms, signal),
    summary: () => {
      const of = (role: BackendRole) => ({
        endpoint: `${s[role].address}:${s.freeswitch[role].eventSocketPort}`,
        events: w.eventCounts[role],
        calls: w.books[role].seen,
        file: PBX_EVENTS_FILE(role),
        ...(w.lostAt[role] !== undefined ? { closedEarlyAt: new Date(w.lostAt[role]).toISOString() } : {}),
      });
      return { old: of("old"), new: of("new") };
    },
  };
}
