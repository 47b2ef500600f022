import { RpcReplyError, RpcUnavailableError, type RpcClient } from "./rpc.js";

/**
 * Kamailio RPC through `kamcmd` (binrpc over the ctl socket), for a Kamailio reachable only by
 * `docker exec`. kamcmd prints a text rendering; parseKamcmdOutput turns it back into the structure
 * the JSON-RPC transport returns, so every caller (runtime.ts, apply, status) works unchanged.
 *
 * kamcmd's text (Kamailio 5.6.3), e.g. `dispatcher.list`:
 *   {
 *   	NRSETS: 1
 *   	RECORDS: {
 *   		SET: { ID: 1  TARGETS: { DEST: { URI: sip:...  FLAGS: AX  PRIORITY: 0 } } }
 *   	}
 *   }
 * Errors come on stdout as `error: 500 - Ongoing reload`, and kamcmd still exits 0.
 *
 * The text loses binrpc's array/struct distinction: arrays are printed in braces too, with each
 * member named. A block becomes an array of single-key objects (as jsonrpcs renders it) when a key
 * repeats in it or its members are known array items (SET, DEST); otherwise an object.
 * Numbers become numbers, `<null string>` becomes null.
 */

const ARRAY_ITEM_KEYS = new Set(["SET", "DEST"]);

type Json = null | number | string | Json[] | { [k: string]: Json };

interface Entry {
  key: string | undefined;
  value: Json;
}

function scalar(raw: string): Json {
  const t = raw.trim();
  if (t === "<null string>") return null;
  if (/^-?\d+$/.test(t) && Number.isSafeInteger(Number(t))) return Number(t);
  return raw.replace(/\s+$/, "");
}

function blockValue(entries: Entry[]): Json {
  const keys = entries.map((e) => e.key);
  const named = keys.every((k) => k !== undefined);
  if (!named) return entries.map((e) => (e.key === undefined ? e.value : { [e.key]: e.value }));
  const repeated = new Set(keys).size !== keys.length;
  const itemish = entries.length > 0 && keys.every((k) => ARRAY_ITEM_KEYS.has(k));
  if (repeated || itemish) return entries.map((e) => ({ [e.key!]: e.value }));
  return Object.fromEntries(entries.map((e) => [e.key!, e.value]));
}

/** Parse kamcmd's stdout into the JSON-RPC result shape. Throws RpcReplyError for `error: <code> - <text>`. */
export function parseKamcmdOutput(method: string, text: string): unknown {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  const first = lines.find((l) => l.trim() !== "");
  const err = first !== undefined ? /^error:\s*(\d+)\s*-\s*(.*)$/.exec(first.trim()) : null;
  if (err) throw new RpcReplyError(method, Number(err[1]), err[2]!.trim());

  let i = 0;
  const parseBlock = (): Entry[] => {
    const entries: Entry[] = [];
    for (; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === "") continue;
      if (line === "}") return entries;
      if (line === "{") {
        i++;
        entries.push({ key: undefined, value: blockValue(parseBlock()) });
        continue;
      }
      const m = /^([^:\s][^:]*?):\s?(.*)$/.exec(lines[i]!.replace(/^\s+/, ""));
      if (m && m[2]!.trim() === "{") {
        i++;
        entries.push({ key: m[1]!, value: blockValue(parseBlock()) });
      } else if (m) {
        entries.push({ key: m[1]!, value: scalar(m[2]!) });
      } else {
        entries.push({ key: undefined, value: scalar(lines[i]!) });
      }
    }
    return entries;
  };

  const top: Json[] = [];
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    if (line.trim() === "{") {
      i++;
      top.push(blockValue(parseBlock()));
    } else {
      top.push(scalar(line));
    }
  }
  if (top.length === 0) return null;
  return top.length === 1 ? top[0] : top;
}

/**
 * One RPC parameter as a kamcmd argument. kamcmd guesses types: "5" becomes an int, "1.5" a float,
 * and a leading "s:"/"i:" is a type prefix. JSON-RPC strings stay strings by forcing "s:".
 */
export function kamcmdParam(v: string | number): string {
  if (typeof v === "number") return String(v);
  return /^[+-]?(\d|\.\d)/.test(v) || /^0x/i.test(v) || /^[a-z]:/i.test(v) ? `s:${v}` : v;
}

/**
 * Runs one argv (no shell), with `input` on its stdin (else stdin is closed at once), and resolves
 * with its output and exit code; rejects when the program could not run or did not finish in time.
 */
export type ArgvRunner = (
  argv: readonly string[],
  timeoutMs: number,
  input?: string,
) => Promise<{ stdout: string; stderr: string; code: number }>;

/** RpcClient over kamcmd: `argvFor(method, params)` builds the command (e.g. docker exec ... kamcmd ...). */
export class KamcmdRpcClient implements RpcClient {
  constructor(
    readonly endpoint: string,
    private readonly argvFor: (method: string, params: readonly string[]) => string[],
    private readonly run: ArgvRunner,
    private readonly timeoutMs = 5000,
    /** a non-zero exit that no retry fixes (ssh's host key or login), as the error to throw */
    private readonly refusal?: (out: { stdout: string; stderr: string; code: number }) => Error | undefined,
  ) {}

  async call(method: string, params: readonly (string | number)[] = []): Promise<unknown> {
    const argv = this.argvFor(method, params.map(kamcmdParam));
    let out: { stdout: string; stderr: string; code: number };
    try {
      out = await this.run(argv, this.timeoutMs);
    } catch (err) {
      throw new RpcUnavailableError(this.endpoint, err instanceof Error ? err.message : String(err));
    }
    if (out.code !== 0) {
      const final = this.refusal?.(out);
      if (final) throw final;
      const why = (out.stderr.trim().split("\n").pop() ?? "").trim() || `exit ${out.code}`;
      throw new RpcUnavailableError(this.endpoint, why);
    }
    return parseKamcmdOutput(method, out.stdout);
  }

  close(): void {
    // nothing held open: each call is one process
  }
}
