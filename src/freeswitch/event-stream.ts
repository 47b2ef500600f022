import net from "node:net";
import { EslFrameParser, EventSocketError, eslApi, type EslEndpoint } from "./event-socket.js";
import {
  CHANNEL_EVENT_SUBSCRIPTION,
  channelEventFrom,
  parseChannelsCount,
  type ChannelEvent,
} from "./channel-events.js";

/**
 * A live subscription to one FreeSWITCH's channel events over its event socket (inbound mode):
 * auth, `event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE`, then every
 * channel event to `onEvent` until close(). The password goes on the socket only.
 */
export interface ChannelEventStream {
  /** resolves once FreeSWITCH confirmed the subscription; rejects with EventSocketError */
  ready: Promise<void>;
  /** the connection ended (closed by us or by FreeSWITCH) */
  closed: Promise<void>;
  close(): void;
}

export function subscribeChannelEvents(
  ep: EslEndpoint,
  password: string,
  onEvent: (e: ChannelEvent) => void,
  timeoutMs = 2000,
): ChannelEventStream {
  const where = `${ep.host}:${ep.port}`;
  const sock = net.connect({ host: ep.host, port: ep.port });
  const parser = new EslFrameParser();
  let stage: "auth-request" | "auth-reply" | "subscribe" | "events" = "auth-request";
  let settle: { resolve: () => void; reject: (e: EventSocketError) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const fail = (e: EventSocketError): void => {
    settle?.reject(e);
    settle = undefined;
    sock.destroy();
  };
  const timer = setTimeout(
    () =>
      fail(
        new EventSocketError(
          `event socket ${where}: no subscription within ${timeoutMs} ms (stage ${stage})`,
          "timeout",
        ),
      ),
    timeoutMs,
  );
  const closed = new Promise<void>((resolve) =>
    sock.on("close", () => {
      clearTimeout(timer);
      fail(
        new EventSocketError(
          `event socket ${where} closed the connection during ${stage}`,
          stage === "auth-reply" ? "auth-failed" : "protocol",
        ),
      );
      resolve();
    }),
  );
  sock.on("error", (e: NodeJS.ErrnoException) =>
    fail(new EventSocketError(`event socket ${where}: ${e.code ?? e.message}`, "unreachable")),
  );
  sock.on("data", (chunk: Buffer) => {
    for (const f of parser.push(chunk)) {
      const type = f.headers.get("content-type") ?? "";
      if (stage === "events") {
        const e = channelEventFrom(f);
        if (e) onEvent(e);
        continue;
      }
      if (stage === "auth-request" && type === "auth/request") {
        stage = "auth-reply";
        sock.write(`auth ${password}\n\n`);
      } else if (stage === "auth-reply" || stage === "subscribe") {
        const reply = f.headers.get("reply-text") ?? "";
        if (type !== "command/reply" || !reply.startsWith("+OK")) {
          fail(
            new EventSocketError(
              `event socket ${where}: ${stage === "auth-reply" ? "authentication refused" : "subscription refused"} (${reply || type})`,
              stage === "auth-reply" ? "auth-failed" : "protocol",
            ),
          );
          return;
        }
        if (stage === "auth-reply") {
          stage = "subscribe";
          sock.write(`${CHANNEL_EVENT_SUBSCRIPTION}\n\n`);
        } else {
          stage = "events";
          clearTimeout(timer);
          settle?.resolve();
          settle = undefined;
        }
      }
    }
  });
  return { ready, closed, close: () => sock.end("exit\n\n") };
}

/** `api show channels count` -> the number of channels FreeSWITCH has up right now. */
export async function channelsCount(ep: EslEndpoint, password: string, timeoutMs = 2000): Promise<number> {
  const body = await eslApi(ep, password, "show channels count", timeoutMs);
  const n = parseChannelsCount(body);
  if (n === undefined)
    throw new EventSocketError(
      `event socket ${ep.host}:${ep.port}: show channels count answered ${JSON.stringify(body.trim().slice(0, 60))}`,
      "protocol",
    );
  return n;
}
