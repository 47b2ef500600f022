/**
 * The live rates on the run's event stream: every `intervalMs` the rate counter's window is closed
 * and emitted as a `backend-rates` event (the terminal dashboard, the web view and events.ndjson
 * take it from there). At run-finished the partial last window goes out marked final, and the
 * sampler stops: the totals of all windows are every initial INVITE and every answer the capture saw.
 */
import type { RunEvents } from "../events/run-events.js";
import type { RateCounter } from "./rate-counter.js";

export const RATE_INTERVAL_MS = 1000;

/** Start emitting; the returned function stops it (idempotent; register it with the run's Scope). */
export function startRateSampler(counter: RateCounter, events: RunEvents, intervalMs = RATE_INTERVAL_MS): () => void {
  let stopped = false;
  const emit = (final: boolean): void => {
    const w = counter.take(Date.now());
    events.emit({ kind: "backend-rates", at: w.at, windowMs: w.windowMs, final, backends: w.backends });
  };
  const timer = setInterval(() => emit(false), intervalMs);
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    unsubscribe();
  };
  const unsubscribe = events.subscribe((e) => {
    if (e.kind !== "run-finished" || stopped) return;
    stop();
    emit(true);
  });
  return stop;
}
