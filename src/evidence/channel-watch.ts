import type { BackendRole } from "../core/backend-role.js";
import { FreeswitchCallBook, type CallBookRetention } from "../evidence/event-socket.js";
import type { ChannelEvent } from "../freeswitch/channel-events.js";
import type { EslEndpoint } from "../freeswitch/event-socket.js";
import { subscribeChannelEvents, type ChannelEventStream } from "../freeswitch/event-stream.js";

/**
 * Both FreeSWITCH backends' channel events for one run (a lab of real FreeSWITCH): one event-socket
 * subscription per backend, folded into a FreeswitchCallBook each (bounded or not: its retention),
 * every event handed on as it arrives (the run's evidence files) and counted, none kept here. A
 * subscription that ends before close() (a FreeSWITCH stopped under the run) is noted; what it
 * reported until then stays.
 */
export interface ChannelWatchEndpoint extends EslEndpoint {
  password: string;
}

export interface ChannelWatch {
  readonly books: Record<BackendRole, FreeswitchCallBook>;
  /** channel events received so far, per backend */
  readonly eventCounts: Record<BackendRole, number>;
  /** when a backend's subscription ended before close() (ms since the epoch) */
  readonly lostAt: Partial<Record<BackendRole, number>>;
  /** poll `pred` every 20 ms until it holds or `timeoutMs` passed; true when it holds */
  until(pred: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}

export interface ChannelWatchOptions {
  /** each event as it arrives, in arrival order per backend */
  onEvent?: (role: BackendRole, e: ChannelEvent) => void;
  /** how long the books keep their calls (default: every call of the run) */
  retention?: CallBookRetention;
  timeoutMs?: number;
}

/** Subscribe to both; resolves once both confirmed the subscription, rejects (EventSocketError) otherwise. */
export async function watchChannels(
  eps: Record<BackendRole, ChannelWatchEndpoint>,
  o: ChannelWatchOptions = {},
): Promise<ChannelWatch> {
  const timeoutMs = o.timeoutMs ?? 3000;
  const books = { old: new FreeswitchCallBook(o.retention), new: new FreeswitchCallBook(o.retention) };
  const eventCounts: Record<BackendRole, number> = { old: 0, new: 0 };
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
        eventCounts[b]++;
        books[b].add(e);
        o.onEvent?.(b, e);
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
    eventCounts,
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
