/**
 * Which backend each call went to, from Kamailio's own view (pure): the destination it forwarded the
 * call's INVITE to, as HEP mirrored it. Unlike the backends' logs this also names a backend that
 * never answered (stopped, or a packet lost on the way), which is exactly the call a gate must see.
 */
import type { Backend } from "../events/run-events.js";
import { forwardedTo, type EndpointKey, type HepCall } from "../hep/evidence.js";

export function backendsFromHep(calls: Iterable<HepCall>, backends: Readonly<Record<Backend, EndpointKey>>): Map<string, Backend> {
  const out = new Map<string, Backend>();
  for (const c of calls) {
    const to = forwardedTo(c, "INVITE")[0];
    const b = to === backends.old ? "old" : to === backends.new ? "new" : undefined;
    if (b !== undefined) out.set(c.callId, b);
  }
  return out;
}
