/**
 * The media relay's own count of each call (rtpengine's ng query: a third vantage point beside the
 * caller's capture and the PBX's hangup event), added to the calls as counted from the caller's side.
 */
import { ngQuery, type NgAddress } from "../rtpengine/ng.js";
import { relayRtpOf, type CallMedia } from "./rtp.js";

/** how many calls are asked about at once */
const AT_ONCE = 20;

/**
 * The relay's counters of each call (rtpengine keeps a call's for its delete delay after the BYE): a
 * call it does not know (or that it could not be asked about) gets none.
 */
export async function addRelayCounts(relay: NgAddress, calls: readonly CallMedia[]): Promise<void> {
  for (let i = 0; i < calls.length; i += AT_ONCE) {
    await Promise.all(
      calls.slice(i, i + AT_ONCE).map(async (c) => {
        const stats = await ngQuery(relay, c.callId).catch(() => undefined);
        const r = stats && relayRtpOf(c.caller, stats.legs);
        if (r) c.relay = r;
      }),
    );
  }
}
