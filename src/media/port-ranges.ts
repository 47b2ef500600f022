/**
 * The caller's media port ranges of one run: each burst's capture watches its caller's ports
 * [p, p + MEDIA_PORT_SPAN] (capture.ts), and no two bursts of a run get ranges that overlap. Two
 * bursts at once (sim's in-flight cutover) then never capture each other's packets, and since SIPp
 * numbers every process's streams from the same SSRC (0xCA110000), two bursts' streams differ by
 * their caller's port: in the run's one media.pcap each stream (source, destination, SSRC) is one
 * call's.
 */
import { EnvironmentError } from "../core/errors.js";
import { MEDIA_PORT_SPAN } from "./capture.js";

export class MediaPortRanges {
  private readonly taken: number[] = [];

  /** `freePort`: a free even port the kernel hands out now (capture.ts freeUdpPort) */
  constructor(
    private readonly freePort: () => Promise<number>,
    private readonly tries = 100,
  ) {}

  /** A base port whose range overlaps no range this run handed out before; it is taken from now on. */
  async pick(): Promise<number> {
    for (let i = 0; i < this.tries; i++) {
      const p = await this.freePort();
      // checked and taken with no await between: two bursts picking at once get ranges apart
      if (this.taken.every((t) => Math.abs(t - p) > MEDIA_PORT_SPAN)) {
        this.taken.push(p);
        return p;
      }
    }
    throw new EnvironmentError(
      `no free media port range apart from this run's ${this.taken.length} other bursts' after ${this.tries} tries`,
    );
  }
}
