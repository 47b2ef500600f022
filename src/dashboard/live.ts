/**
 * The live loop: subscribes to the run's event stream, observes Kamailio's runtime (dispatcher
 * mode, active dialogs per backend) in the background, and every interval renders a frame and
 * appends a live-metrics.csv row. A tick never waits for Kamailio: it uses the latest observation,
 * so its cost stays flat however long the run gets. It decides nothing.
 *
 * The end is different: the final frame and the last CSV row come from an observation started
 * after the run's last call ended. `settle()` observes until Kamailio's active dialogs are 0 per
 * backend (what the evidence expects once every call has ended; Kamailio may keep a dialog for a
 * moment after the BYE's 200), bounded; what Kamailio still holds then is what the frame says.
 * The final frame is also written to final-frame.txt in the run folder.
 */
import { appendFileSafe, FileMode, writeFileAtomic } from "../files/atomic-write.js";
import path from "node:path";
import { UsageError } from "../core/errors.js";
import { delay } from "../core/scope.js";
import type { RunEvent, RunEvents } from "../events/run-events.js";
import { observeRuntime as observeKamailio } from "../observe/runtime.js";
import type { Target } from "../target/target.js";
import { CSV_HEADER, csvRow } from "./csv.js";
import { renderFrame } from "./frame.js";
import {
  endTick,
  initialState,
  isComplete,
  reduce,
  settledAtEnd,
  tick,
  type DashboardState,
  type Observation,
} from "./state.js";

export interface Screen {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface LiveOptions {
  intervalMs: number;
  /** append plain frames (DASH_NO_CLEAR=1, or output is not a TTY) */
  plain: boolean;
  screen: Screen;
  /** the run's Target (the one the simulation uses); undefined: mode and active calls are not observed */
  target: Target | undefined;
  cwd: string;
  /** how long the end waits for Kamailio's active dialogs to reach 0 (default SETTLE_TIMEOUT_MS) */
  settleTimeoutMs?: number;
}

/** The end's bound: Kamailio releases a dialog within tens of ms of the BYE's 200 on an idle lab. */
export const SETTLE_TIMEOUT_MS = 5000;
const SETTLE_POLL_MS = 50;

/** The final frame as drawn (without cursor codes), in the run folder. */
export const FINAL_FRAME_FILE = "final-frame.txt";

const CLEAR_SCREEN = "\x1b[2J\x1b[H";
const HOME = "\x1b[H";
const CLEAR_EOL = "\x1b[K";
const CLEAR_BELOW = "\x1b[J";

/** DASH_INTERVAL_SECONDS / --interval: seconds, fractions allowed, 0.05 to 3600. */
export function resolveIntervalMs(env: NodeJS.ProcessEnv, flag: string | undefined): number {
  const [source, raw] =
    flag !== undefined ? ["--interval", flag] : ["DASH_INTERVAL_SECONDS", env["DASH_INTERVAL_SECONDS"]];
  if (raw === undefined || raw === "") return 1000;
  const n = Number(raw.trim());
  if (!/^\d*\.?\d+$/.test(raw.trim()) || !Number.isFinite(n) || n < 0.05 || n > 3600) {
    throw new UsageError(
      `${source}=${JSON.stringify(raw)}: must be a number of seconds from 0.05 to 3600; nothing was started`,
    );
  }
  return Math.round(n * 1000);
}

/** DASH_NO_CLEAR=1 (or --no-clear) asks for plain appended frames; so does output that is not a TTY. */
export function plainMode(env: NodeJS.ProcessEnv, clearFlag: boolean | undefined, screen: Screen): boolean {
  if (clearFlag === false) return true;
  const v = env["DASH_NO_CLEAR"];
  if (v !== undefined && v !== "" && v !== "0") return true;
  return screen.isTTY !== true;
}

/** One look at Kamailio's runtime (src/observe/): dispatcher mode and active dialogs per backend of `t`. */
export async function observeRuntime(t: Target): Promise<Observation> {
  const o = await observeKamailio(t.rpc, {
    setId: t.setId,
    uris: { old: t.backends.old.uri, new: t.backends.new.uri },
  });
  const obs: Observation = { at: o.at, mode: o.mode, active: o.active };
  // real PBXs: each one's own count, side by side with Kamailio's (a backend that does not answer is left out)
  if (t.pbxChannels) obs.channels = await t.pbxChannels().catch(() => ({}));
  return obs;
}

export class LiveDashboard {
  private state: DashboardState;
  private latest: Observation | undefined;
  private observing = false;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly csv: string;
  private frames = 0;
  private done = false;

  constructor(
    private readonly runDir: string,
    private readonly events: RunEvents,
    private readonly o: LiveOptions,
  ) {
    this.state = initialState(runDir, Date.now());
    this.csv = path.join(runDir, "live-metrics.csv");
  }

  /** Start ticking; `settle()` or `close()` ends it with the final frame. */
  start(): this {
    writeFileAtomic(this.csv, CSV_HEADER, { mode: FileMode.public });
    this.unsubscribe = this.events.subscribe((e) => this.onEvent(e));
    if (this.o.screen.isTTY && !this.o.plain) this.o.screen.write(CLEAR_SCREEN);
    this.timer = setInterval(() => this.onTick(Date.now()), this.o.intervalMs);
    this.onTick(Date.now());
    return this;
  }

  get current(): DashboardState {
    return this.state;
  }

  private onEvent(e: RunEvent): void {
    this.state = reduce(this.state, e);
    // the periodic ticks end with the run: what they observed predates its last BYE
    if (e.kind === "run-finished") this.stopTicking();
  }

  private stopTicking(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One tick: fold in the latest observation, append a CSV row, draw; kick off the next observation. */
  onTick(at: number): void {
    this.state = tick(this.state, {
      at,
      mode: this.latest?.mode,
      active: this.latest?.active ?? {},
      ...(this.latest?.channels ? { channels: this.latest.channels } : {}),
    });
    appendFileSafe(this.csv, csvRow(this.state, at), FileMode.public);
    this.draw();
    this.observe();
  }

  private draw(): string {
    const width = this.o.screen.columns ?? Number(process.env["COLUMNS"] ?? 80);
    const frame = renderFrame(this.state, { width, plain: this.o.plain, cwd: this.o.cwd });
    this.frames++;
    if (this.o.plain) {
      this.o.screen.write(`--- frame ${this.frames} ---\n${frame}`);
    } else {
      this.o.screen.write(HOME + frame.replace(/\n/g, `${CLEAR_EOL}\n`) + CLEAR_BELOW);
    }
    return frame;
  }

  private observe(): void {
    const t = this.o.target;
    if (!t || this.observing || this.done || this.state.finished) return;
    this.observing = true;
    void observeRuntime(t).then((obs) => {
      this.observing = false;
      if (!this.latest || obs.at >= this.latest.at) this.latest = obs;
    });
  }

  /**
   * The run's last call has ended (after run-finished, while the lab is still up): observe Kamailio
   * until both backends' active dialogs are 0 or SETTLE_TIMEOUT_MS passed, then draw the final
   * frame and append the last row from the last observation Kamailio answered.
   */
  async settle(signal: AbortSignal): Promise<void> {
    if (this.done) return;
    this.stopTicking();
    const t = this.o.target;
    if (!t || !this.state.finished) {
      this.finish(undefined, t ? "the run did not finish" : "no target to observe");
      return;
    }
    const deadline = Date.now() + (this.o.settleTimeoutMs ?? SETTLE_TIMEOUT_MS);
    let answered: Observation | undefined;
    for (;;) {
      const obs = await observeRuntime(t);
      if (isComplete(obs)) answered = obs;
      if ((answered && settledAtEnd(answered.active, answered.channels)) || Date.now() >= deadline || signal.aborted)
        break;
      try {
        await delay(SETTLE_POLL_MS, signal);
      } catch {
        break;
      }
    }
    this.finish(answered, signal.aborted ? "interrupted" : undefined);
  }

  /** Detach. A run that ended without settle() (interrupted, or the lab never came up) still gets its final frame. */
  close(): void {
    this.finish(undefined, "interrupted");
  }

  /** The final tick, the last CSV row and the final frame (also to final-frame.txt), once. */
  private finish(end: Observation | undefined, reason: string | undefined): void {
    if (this.done) return;
    this.done = true;
    this.stopTicking();
    const at = Date.now();
    this.state = this.state.finished
      ? endTick(this.state, at, end, reason)
      : tick(this.state, {
          at,
          mode: this.latest?.mode,
          active: this.latest?.active ?? {},
          ...(this.latest?.channels ? { channels: this.latest.channels } : {}),
        });
    appendFileSafe(this.csv, csvRow(this.state, at), FileMode.public);
    writeFileAtomic(path.join(this.runDir, FINAL_FRAME_FILE), this.draw(), { mode: FileMode.public });
    this.unsubscribe?.();
  }
}
