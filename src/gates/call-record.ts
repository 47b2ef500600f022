import type { BackendRole } from "../core/backend-role.js";
/**
 * The per-call facts a gate reads (pure data). Any evidence source maps onto it: the sim's SIPp
 * message logs today, HEP from Kamailio's siptrace or a PBX's event socket later. Times are
 * milliseconds on one clock (epoch ms, or any monotonic origin shared by the records of a window);
 * the metrics only ever subtract times of the same call, and compare inviteSentMs with the window.
 */

export interface CallRecord {
  callId: string;
  /** the backend that received the call's INVITE */
  backend: BackendRole;
  /** when the caller sent the INVITE (the first copy) */
  inviteSentMs: number;
  /** when the caller received the first response other than 100 Trying: a provisional (180, 183) or the final */
  firstProvisionalOrFinalMs: number | undefined;
  /** the final response to the INVITE (200, 486, 503...), undefined when none came */
  finalStatus: number | undefined;
  /** no final response within the caller's timeout */
  timedOut: boolean;
  /** when the caller sent BYE, undefined for a call that never got that far */
  byeSentMs: number | undefined;
  /** when the caller received the final response to that BYE */
  byeFinalMs: number | undefined;
}
