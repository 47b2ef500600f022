/**
 * rtpengine's ng control protocol over UDP on loopback: `<cookie> <bencoded dictionary>` each way.
 * `ping` is the readiness probe; `query` gives a call's per-leg, per-stream packet counters, rtpengine's
 * own view of the audio it relayed. Bencode is written and read here (pure); one socket per request.
 */
import { createSocket } from "node:dgram";
import { randomBytes } from "node:crypto";

export type Bencoded = string | number | Bencoded[] | { [key: string]: Bencoded };

export function bencode(v: Bencoded): Buffer {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new Error(`bencode: ${v} is not an integer`);
    return Buffer.from(`i${v}e`);
  }
  if (typeof v === "string") {
    const b = Buffer.from(v, "utf8");
    return Buffer.concat([Buffer.from(`${b.length}:`), b]);
  }
  if (Array.isArray(v)) return Buffer.concat([Buffer.from("l"), ...v.map(bencode), Buffer.from("e")]);
  const keys = Object.keys(v).sort();
  return Buffer.concat([Buffer.from("d"), ...keys.flatMap((k) => [bencode(k), bencode(v[k]!)]), Buffer.from("e")]);
}

/** Decode one bencoded value from `buf` at `at`; strings are read as latin1 (SDP and tags are ASCII). */
export function bdecode(buf: Buffer, at = 0): { value: Bencoded; end: number } {
  const c = buf[at];
  if (c === 0x69) {
    const e = buf.indexOf(0x65, at);
    if (e < 0) throw new Error("bdecode: unterminated integer");
    return { value: Number(buf.toString("latin1", at + 1, e)), end: e + 1 };
  }
  if (c === 0x6c || c === 0x64) {
    const list: Bencoded[] = [];
    let i = at + 1;
    for (;;) {
      if (i >= buf.length) throw new Error("bdecode: unterminated list or dictionary");
      if (buf[i] === 0x65) break;
      const r = bdecode(buf, i);
      list.push(r.value);
      i = r.end;
    }
    if (c === 0x6c) return { value: list, end: i + 1 };
    const dict: Record<string, Bencoded> = {};
    for (let k = 0; k + 1 < list.length; k += 2) {
      const key = list[k];
      if (typeof key !== "string") throw new Error("bdecode: a dictionary key is not a string");
      dict[key] = list[k + 1]!;
    }
    return { value: dict, end: i + 1 };
  }
  const colon = buf.indexOf(0x3a, at);
  if (colon < 0 || c === undefined || c < 0x30 || c > 0x39) throw new Error(`bdecode: unexpected byte at ${at}`);
  const len = Number(buf.toString("latin1", at, colon));
  const end = colon + 1 + len;
  if (end > buf.length) throw new Error("bdecode: string past the end");
  return { value: buf.toString("latin1", colon + 1, end), end };
}

export interface NgAddress {
  address: string;
  port: number;
}

/** One ng request and its reply dictionary; rejects on a timeout, a reply that does not parse, or `result: error`. */
export async function ngRequest(
  ng: NgAddress,
  command: string,
  args: Record<string, Bencoded> = {},
  timeoutMs = 1000,
): Promise<Record<string, Bencoded>> {
  const cookie = randomBytes(6).toString("hex");
  const s = createSocket("udp4");
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`rtpengine at ${ng.address}:${ng.port} did not answer '${command}' within ${timeoutMs} ms`)),
        timeoutMs,
      );
      s.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      s.on("message", (m) => {
        if (m.toString("latin1", 0, cookie.length + 1) !== `${cookie} `) return;
        clearTimeout(timer);
        resolve(m);
      });
      s.send(Buffer.concat([Buffer.from(`${cookie} `), bencode({ ...args, command })]), ng.port, ng.address);
    });
    const { value } = bdecode(reply, cookie.length + 1);
    if (typeof value !== "object" || Array.isArray(value)) throw new Error("rtpengine's reply is not a dictionary");
    if (value.result === "error") {
      const why = value["error-reason"];
      throw new Error(`rtpengine refused '${command}': ${typeof why === "string" ? why : "no reason"}`);
    }
    return value;
  } finally {
    s.close();
  }
}

/** ng `ping` answered `pong` (the readiness probe). */
export async function ngPing(ng: NgAddress, timeoutMs = 500): Promise<void> {
  const r = await ngRequest(ng, "ping", {}, timeoutMs);
  if (r.result !== "pong") throw new Error(`rtpengine answered ping with ${JSON.stringify(r.result)}`);
}

/** What rtpengine relayed for one call: per leg (its SIP tag), the RTP packets it received from that leg. */
export interface RelayCallStats {
  callId: string;
  /**
   * by tag: packets and bytes rtpengine received from that leg on its RTP stream(s), errors, and the
   * leg's RTP endpoint as rtpengine learned it ("127.0.0.1:30000"; undefined before any packet or SDP)
   */
  legs: { tag: string; packets: number; bytes: number; errors: number; endpoint: string | undefined }[];
}

const dict = (v: Bencoded | undefined): Record<string, Bencoded> =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? v : {};
const list = (v: Bencoded | undefined): Bencoded[] => (Array.isArray(v) ? v : []);
const num = (v: Bencoded | undefined): number => (typeof v === "number" ? v : 0);

/** The RTP counters of a `query` reply (pure): per tag, summed over the leg's RTP streams (RTCP left out). */
export function relayStatsOf(callId: string, reply: Record<string, Bencoded>): RelayCallStats {
  const legs: RelayCallStats["legs"] = [];
  for (const [tag, leg] of Object.entries(dict(reply.tags))) {
    let packets = 0;
    let bytes = 0;
    let errors = 0;
    let endpoint: string | undefined;
    for (const media of list(dict(leg).medias)) {
      for (const stream of list(dict(media).streams)) {
        const st = dict(stream);
        if (!list(st.flags).includes("RTP")) continue;
        const stats = dict(st.stats);
        packets += num(stats.packets);
        bytes += num(stats.bytes);
        errors += num(stats.errors);
        const e = dict(st.endpoint);
        if (typeof e.address === "string" && typeof e.port === "number") endpoint ??= `${e.address}:${e.port}`;
      }
    }
    legs.push({ tag, packets, bytes, errors, endpoint });
  }
  return { callId, legs };
}

/** ng `query` of one call (rtpengine keeps a deleted call for its --delete-delay). */
export async function ngQuery(ng: NgAddress, callId: string, timeoutMs = 1000): Promise<RelayCallStats> {
  return relayStatsOf(callId, await ngRequest(ng, "query", { "call-id": callId }, timeoutMs));
}
