/**
 * The control socket's protocol (pure): one JSON line in, one JSON line out, then the server closes.
 *
 *   request   {"v":1,"command":"status"|"pause"|"resume"|"promote"|"abort"}
 *   response  {"v":1,"ok":true,"status":{...}}           (the run's status after the command)
 *             {"v":1,"ok":false,"error":"...","status":{...}}   (refused: nothing changed)
 *
 * The pointer file (control.json beside the target's apply lock, e.g. .lab/control.json) says where
 * a running plan's socket is, so `--lab-dir` finds it: {v, socket, runDir, pid, startTime, command, startedAt}.
 */
import { z } from "zod";
import type { ControlAction } from "../events/run-events.js";
import type { StatusView } from "./run-status.js";

export const PROTOCOL_VERSION = 1;
/** a request longer than this is refused (one short JSON object is all the protocol has) */
export const MAX_REQUEST_BYTES = 4096;
export const SOCKET_FILE = "control.sock";
export const POINTER_FILE = "control.json";
/**
 * sun_path is 108 bytes on Linux, one of them the terminating NUL: a longer socket path cannot be
 * bound, so the socket then goes into a private directory under the temp dir (the pointer says where).
 */
export const MAX_SOCKET_PATH_BYTES = 107;

export const CONTROL_COMMANDS = ["status", "pause", "resume", "promote", "abort"] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];
export const isAction = (c: ControlCommand): c is ControlAction => c !== "status";

const RequestSchema = z.object({ v: z.literal(PROTOCOL_VERSION), command: z.enum(CONTROL_COMMANDS) }).strict();
export type ControlRequest = z.infer<typeof RequestSchema>;

export type ControlResponse =
  | { v: typeof PROTOCOL_VERSION; ok: true; detail: string; status: StatusView }
  | { v: typeof PROTOCOL_VERSION; ok: false; error: string; status?: StatusView | undefined };

/** A request line, validated; the error names what was wrong (sent back to the client). */
export function parseRequest(line: string): { ok: true; request: ControlRequest } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, error: 'the request is not JSON; send one line like {"v":1,"command":"status"}' };
  }
  const r = RequestSchema.safeParse(raw);
  if (!r.success) {
    return {
      ok: false,
      error: `bad request: ${r.error.issues.map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`).join("; ")}`,
    };
  }
  return { ok: true, request: r.data };
}

export const requestLine = (command: ControlCommand): string => JSON.stringify({ v: PROTOCOL_VERSION, command }) + "\n";

const PointerSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    socket: z.string().min(1),
    runDir: z.string().min(1),
    pid: z.number().int().positive(),
    /** /proc/<pid>/stat field 22: a reused pid is not the run */
    startTime: z.string().optional(),
    command: z.string(),
    startedAt: z.string(),
  })
  .strict();
export type ControlPointer = z.infer<typeof PointerSchema>;

export function parsePointer(text: string): ControlPointer | undefined {
  try {
    const r = PointerSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** A response line from the server, checked loosely (the status is shown as it came). */
export function parseResponse(line: string): ControlResponse | undefined {
  try {
    const r = JSON.parse(line) as Partial<ControlResponse> | null;
    if (r === null || typeof r !== "object" || r.v !== PROTOCOL_VERSION || typeof r.ok !== "boolean") return undefined;
    return r as ControlResponse;
  } catch {
    return undefined;
  }
}
