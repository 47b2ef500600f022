/**
 * The live loop: subscribes to the run's event stream, observes Kamailio's runtime (dispatcher
 * mode, active dialogs per backend) in the background, and every interval renders a frame and
 * appends a live-metrics.csv row. A tick never waits for Kamailio: it uses the latest observation,
 * so its cost stays flat however long the run gets. It decides nothing.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { UsageError } from "../cli/errors.js";
import type { RunEvent, RunEvents } from "../events/run-events.js";
import { modeOf, parseDispatcherListResult } from "../kamailio/runtime.js";
import type { Target } from "../lab/target.js";
import { CSV_HEADER, csvRow } from "./csv.js";
import { renderFrame } from "./frame.js";
import { initialState, reduce, tick, type DashboardState, type Observation } from "./state.js";

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
  /** Kamailio's runtime; undefined: mode and active calls are not observed */
  target: Target | undefined;
  cwd: string;
}

const CLEAR_SCREEN = "\x1b[2J\x1b[H";
const HOME = "\x1b[H";
const CLEAR_EOL = "\x1b[K";
const CLEAR_BELOW = "\x1b[J";

/** DASH_INTERVAL_SECONDS / --interval: seconds, fractions allowed, 0.05 to 3600. */
export function resolveIntervalMs(env: NodeJS.ProcessEnv, flag: string | undefined): number {
  const [source, raw] = flag !== undefined ? ["--interval", flag] : ["DASH_INTERVAL_SECONDS", env["DASH_INTERVAL_SECONDS"]];
  if (raw === undefined || raw === "") return 1000;
  const n = Number(raw.trim());
  if (!/^\d*\.?\d+$/.test(raw.trim()) || !Number.isFinite(n) || n < 0.05 || n > 3600) {
    throw new UsageError(`${source}=${JSON.stringify(raw)}: must be a number of seconds from 0.05 to 3600; nothing was started`);
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
    runDir: string,
    private readonly events: RunEvents,
    private readonly o: LiveOptions,
  ) {
    this.state = initialState(runDir, Date.now());
    this.csv = path.join(runDir, "live-metrics.csv");
  }

  /** Start ticking; returns the function that stops it (and draws the last frame). */
  start(): () => void {
    writeFileSync(this.csv, CSV_HEADER);
    this.unsubscribe = this.events.subscribe((e) => this.onEvent(e));
    if (this.o.screen.isTTY && !this.o.plain) this.o.screen.write(CLEAR_SCREEN);
    this.timer = setInterval(() => this.onTick(Date.now()), this.o.intervalMs);
    this.onTick(Date.now());
    return () => this.stop();
  }

  get current(): DashboardState {
    return this.state;
  }

  private onEvent(e: RunEvent): void {
    this.state = reduce(this.state, e);
    if (e.kind === "run-finished") this.stop();
  }

  /** One tick: fold in the latest observation, append a CSV row, draw; kick off the next observation. */
  onTick(at: number): void {
    this.state = tick(this.state, { at, mode: this.latest?.mode, active: this.latest?.active ?? {} });
    appendFileSync(this.csv, csvRow(this.state, at));
    this.draw();
    if (!this.done) this.observe();
  }

  private draw(): void {
    const width = this.o.screen.columns ?? Number(process.env["COLUMNS"] ?? 80);
    const frame = renderFrame(this.state, { width, plain: this.o.plain, cwd: this.o.cwd });
    this.frames++;
    if (this.o.plain) {
      this.o.screen.write(`--- frame ${this.frames} ---\n${frame}`);
    } else {
      this.o.screen.write(HOME + frame.replace(/\n/g, `${CLEAR_EOL}\n`) + CLEAR_BELOW);
    }
  }

  private observe(): void {
    const t = this.o.target;
    if (!t || this.observing) return;
    this.observing = true;
    void (async () => {
      const obs: Observation = { at: Date.now(), mode: undefined, active: {} };
      try {
        const dests = parseDispatcherListResult(await t.rpc.call("dispatcher.list"));
        obs.mode = modeOf(dests, t.setId, t.backends.old.uri, t.backends.new.uri);
        for (const b of ["old", "new"] as const) {
          obs.active[b] = Number(await t.rpc.call("dlg.profile_get_size", ["backend", t.backends[b].uri]));
        }
      } catch {
        obs.mode ??= "unavailable";
      } finally {
        this.observing = false;
      }
      this.latest = obs;
    })();
  }

  /** Final tick (no new observation), final CSV row and the final frame, once. */
  stop(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    this.onTick(Date.now());
    this.unsubscribe?.();
  }
}
