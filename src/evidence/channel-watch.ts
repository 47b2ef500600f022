import type { BackendRole } from "../core/backend-role.js";
import { FreeswitchCallBook } from "../evidence/event-socket.js";
import type { ChannelEvent } from "../freeswitch/channel-events.js";
import type { EslEndpoint } from "../freeswitch/event-socket.js";
import { subscribeChannelEvents, type ChannelEventStream } from "../freeswitch/event-stream.js";

/**
 * Both FreeSWITCH backends' channel events for one run (a lab of real FreeSWITCH): one event-socket
 * subscription per backend, folded into a FreeswitchCallBook each, every event kept for the run's
 * evidence files. A subscription that ends before close() (a FreeSWITCH stopped under the run) is
 * noted; what it reported until then stays.
 */
export interface ChannelWatchEndpoint extends EslEndpoint {
  password: string;
}

export interface ChannelWatch {
  readonly books: Record<BackendRole, FreeswitchCallBook>;
  /** every channel event received, per backend, in arrival order */
  readonly events: Record<BackendRole, ChannelEvent[]>;
  /** when a backend's subscription ended before close() (ms since the epoch) */
  readonly lostAt: Partial<Record<BackendRole, number>>;
  /** poll `pred` every 20 ms until it holds or `timeoutMs` passed; true when it holds */
  until(pred: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}

/** Subscribe to both; resolves once both confirmed the subscription, rejects (EventSocketError) otherwise. */
export async function watchChannels(
  eps: Record<BackendRole, ChannelWatchEndpoint>,
  timeoutMs = 3000,
): Promise<ChannelWatch> {
  const books = { old: new FreeswitchCallBook(), new: new FreeswitchCallBook() };
  const events: Record<BackendRole, ChannelEvent[]> = { old: [], new: [] };
  const lostAt: Partial<Record<BackendRole, number>> = {};
  let closing = false;
  const streams: Record<BackendRole, ChannelEventStream> = {
    old: subscribe("old"),
    new: subscribe("new"),
  };
  function subscribe(b: BackendRole): ChannelEventStream {
    const ep = eps[b];
    const s = subscribeChannelEvents(
      { host: ep.host, port: ep.port },
      ep.password,
      (e) => {
        events[b].push(e);
        books[b].add(e);
      },
      timeoutMs,
    );
    void s.closed.then(() => {
      if (!closing) lostAt[b] = Date.now();
    });
    return s;
  }
  const close = async (): Promise<void> => {
    closing = true;
    for (const s of Object.values(streams)) s.close();
    await Promise.all(Object.values(streams).map((s) => s.closed));
  };
  try {
    await Promise.all([streams.old.ready, streams.new.ready]);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    books,
    events,
    lostAt,
    async until(pred, ms, signal) {
      const deadline = performance.now() + ms;
      while (!pred()) {
        if (performance.now() > deadline || signal?.aborted) return pred();
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
    close,
  };
}
