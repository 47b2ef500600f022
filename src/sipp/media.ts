/**
 * Audio on the caller's calls (pure): a G.711 u-law tone for SIPp's `rtp_stream` (payload 0, 160 bytes
 * per 20 ms packet), the UAC scenario with media turned on, and the SIPp arguments that go with it.
 */

/** SIPp 3.6's rtp_stream: the first stream of a process gets this SSRC, each later stream the next one */
export const SIPP_BASE_SSRC = 0xca110000;
/** G.711 at 20 ms per packet */
export const PACKET_MS = 20;
/** the marker in uac-call.xml where the media action goes (after the ACK) */
export const MEDIA_MARKER = "<!-- media: the audio starts here when media is on -->";
/** the log line the media action writes before its stream starts: `media <Call-ID>` */
export const MEDIA_LOG_PREFIX = "media ";

function linearToUlaw(sample: number): number {
  const BIAS = 0x84;
  let s = sample;
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s = Math.min(s, 32635) + BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mantissa = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mantissa) & 0xff;
}

/** One second of a 1 kHz tone at 8 kHz, u-law (SIPp loops it for as long as the call lasts). */
export function pcmuTone(): Buffer {
  const b = Buffer.alloc(8000);
  for (let i = 0; i < b.length; i++) b[i] = linearToUlaw(Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 8000)));
  return b;
}

/**
 * The UAC scenario with media on: the SDP offers SIPp's rtp_stream port, and after the ACK the call
 * logs its Call-ID, then starts streaming `audioFile` (looped, payload 0). Streams start in the order
 * the log lines are written, which is how a stream's SSRC is matched to its call.
 */
export function mediaScenario(xml: string, audioFile: string): string {
  if (!xml.includes(MEDIA_MARKER)) throw new Error("the UAC scenario has no media marker");
  if (!/^[A-Za-z0-9_./-]+$/.test(audioFile))
    throw new Error(`audio file path ${JSON.stringify(audioFile)} is not plain`);
  const action =
    `<nop><action><log message="${MEDIA_LOG_PREFIX}[call_id]"/>` +
    `<exec rtp_stream="${audioFile},-1,0"/></action></nop>`;
  return xml
    .replace("m=audio [media_port] RTP/AVP 0", "m=audio [rtpstream_audio_port] RTP/AVP 0")
    .replace(MEDIA_MARKER, action);
}

/** The Call-IDs in the order their streams started, from the media action's log file. */
export function streamOrder(logText: string): string[] {
  const out: string[] = [];
  for (const line of logText.split("\n")) {
    const t = line.trim();
    if (t.startsWith(MEDIA_LOG_PREFIX)) out.push(t.slice(MEDIA_LOG_PREFIX.length));
  }
  return out;
}

/** Packets a call held `holdMs` should carry in each direction. */
export function expectedPackets(holdMs: number): number {
  return Math.floor(holdMs / PACKET_MS);
}
