/**
 * The channels a FreeSWITCH holds, over its event socket: `api show channels as json` (read from the
 * core database, which lags a channel's creation or end by up to a few hundred ms). The parse is pure
 * and tested on replies recorded from 1.10.3 and 1.10.12; `freeswitchPbx` is the drain's view of one
 * backend PBX (src/target/target.ts `PbxChannelSource`).
 */
import type { PbxChannel, PbxChannelSource } from "../target/target.js";
import { eslApi, EventSocketError, type EslEndpoint } from "./event-socket.js";

interface ChannelRow {
  uuid?: unknown;
  name?: unknown;
  created_epoch?: unknown;
}

/** `show channels as json` -> its channels; undefined when the body is not that reply. */
export function parseChannelsJson(body: string): PbxChannel[] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as { row_count?: unknown; rows?: unknown };
  if (typeof o.row_count !== "number") return undefined;
  if (o.row_count === 0) return [];
  if (!Array.isArray(o.rows)) return undefined;
  return (o.rows as ChannelRow[]).map((r) => {
    const epoch = Number(r.created_epoch);
    return {
      uuid: typeof r.uuid === "string" ? r.uuid : "?",
      name: typeof r.name === "string" ? r.name : "?",
      createdS: Number.isFinite(epoch) && epoch > 0 ? epoch : undefined,
    };
  });
}

/** The channels FreeSWITCH holds now (EventSocketError when it cannot be asked; never the password). */
export async function freeswitchChannels(ep: EslEndpoint, password: string, timeoutMs: number): Promise<PbxChannel[]> {
  const body = await eslApi(ep, password, "show channels as json", timeoutMs);
  const channels = parseChannelsJson(body);
  if (channels === undefined)
    throw new EventSocketError(
      `event socket ${ep.host}:${ep.port}: show channels as json answered ${JSON.stringify(body.trim().slice(0, 60))}`,
      "protocol",
    );
  return channels;
}

/** One backend's FreeSWITCH as the drain asks it; the password is read only when a request is sent. */
export function freeswitchPbx(
  role: string,
  ep: EslEndpoint,
  password: () => string,
  timeoutMs: number,
): PbxChannelSource {
  return {
    label: `FreeSWITCH ${role}`,
    at: `event socket ${ep.host}:${ep.port}`,
    channels: () => freeswitchChannels(ep, password(), timeoutMs),
  };
}
