/**
 * Signals at random moments: `sim` and `migrate --steps` on a running lab (real Kamailio + SIPp),
 * each sent SIGINT or SIGTERM at a moment drawn at random over its run. Whenever the signal lands
 * (before the handlers exist, during a preflight, an apply, a burst, a hold, a rollback or the final
 * report), what is left behind must be whole:
 *   - the exit is the signal's (130/143, or the signal itself outside the command's handlers) or
 *     the run's own when it had already finished; migrate ends on its last good step;
 *   - Kamailio's runtime is exactly the dispatcher.list on disk, and that list is one whole step;
 *   - no apply lock, no SIPp burst and no child of the run is left; the lab still runs, untouched.
 * The seed is printed; PBX_CUTOVER_DRILL_SEED=<n> replays a drill.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { entriesOf, parseDispatcherList } from "../../src/dispatcher/list.js";
import { CLI, labFixture, type LabFixture } from "../support/lab-fixture.js";
import { runtimeWithAttrs, uriOf } from "../support/lab-runtime.js";
import { processesNaming } from "../support/processes.js";
import { FAST } from "../support/sim-knobs.js";

/** a small seeded PRNG (mulberry32): the same seed draws the same moments */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.PBX_CUTOVER_DRILL_SEED ?? Math.floor(Math.random() * 2 ** 31));
const random = prng(SEED);

type Pair = [string, string];
const norm = (attrs: string | undefined): string => attrs ?? "";

async function runtimeOf(f: LabFixture): Promise<Pair[]> {
  return (await runtimeWithAttrs(f)).map(([uri, attrs]): Pair => [uri, norm(attrs)]);
}

function fileOf(f: LabFixture): Pair[] {
  const list = parseDispatcherList(readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"));
  return entriesOf(list)
    .map((e): Pair => [e.uri, norm(e.attrs)])
    .sort((a, b) => a[0].localeCompare(b[0]));
}

interface Drilled {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

async function drill(
  f: LabFixture,
  args: string[],
  env: NodeJS.ProcessEnv,
  sig: NodeJS.Signals,
  atMs: number,
): Promise<Drilled> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: f.dir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  // the random moment is the point of a drill: this wait is the input, not a condition being waited for
  const timer = setTimeout(() => child.kill(sig), atMs);
  const hardStop = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const r = await closed;
  clearTimeout(timer);
  clearTimeout(hardStop);
  return { ...r, out };
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

interface StepEvent {
  kind: string;
  state?: string;
  index?: number;
  weightNew?: number;
}

/** the run's events.ndjson (one run folder under `art`) */
function eventsOf(art: string): StepEvent[] {
  const runs = readdirSync(art).filter((n) => n !== "latest" && existsSync(path.join(art, n, "events.ndjson")));
  if (runs.length === 0) return [];
  return readFileSync(path.join(art, runs[0]!, "events.ndjson"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as StepEvent];
      } catch {
        return []; // a line cut by the signal
      }
    });
}

describe(`signals at random moments (seed ${SEED}; replay with PBX_CUTOVER_DRILL_SEED=${SEED})`, () => {
  let f: LabFixture;
  let labPids: string;
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    labPids = JSON.stringify(
      (
        JSON.parse(readFileSync(path.join(f.labDir, "lab.json"), "utf8")) as { components: { pid: number }[] }
      ).components.map((c) => c.pid),
    );
  });
  after(async () => {
    await f.dispose();
  });

  const whole = (): Pair[][] => {
    const old = uriOf(f, "old");
    const nu = uriOf(f, "new");
    const sorted = (p: Pair[]): Pair[] => p.sort((a, b) => a[0].localeCompare(b[0]));
    return [
      [[old, ""]],
      [[nu, ""]],
      sorted([
        [old, ""],
        [nu, ""],
      ]),
    ];
  };

  // on an idle machine sim at the FAST knobs runs about 6 s and migrate --steps 0,50,100 about 1 s
  // (the lab's reload_delta is 0); moments are drawn over that span and past it
  const cases: { name: string; args: (art: string) => string[]; env: NodeJS.ProcessEnv; spanMs: number }[] = [
    { name: "sim", args: (art) => ["sim", ...f.flags, "--artifacts-dir", art], env: FAST, spanMs: 7_000 },
    {
      name: "migrate",
      args: (art) => ["migrate", ...f.flags, "--steps", "0,50,100", "--artifacts-dir", art],
      env: {},
      spanMs: 1_500,
    },
  ];
  const ROUNDS = 3;
  for (let i = 0; i < ROUNDS; i++) {
    for (const c of cases) {
      const sig: NodeJS.Signals = random() < 0.5 ? "SIGINT" : "SIGTERM";
      const atMs = Math.round(random() * c.spanMs);
      test(`${c.name} #${i + 1}: ${sig} at ${atMs} ms`, async (t) => {
        const art = path.join(f.dir, `drill-${c.name}-${i}`);
        const before = await runtimeOf(f);
        const r = await drill(f, c.args(art), c.env, sig, atMs);
        t.diagnostic(`exit ${r.code ?? r.signal}; last line: ${r.out.trimEnd().split("\n").at(-1) ?? ""}`);
        const what = `${c.name} ${sig} at ${atMs} ms (seed ${SEED}): exit ${r.code ?? r.signal}\n${r.out}`;
        // the signal's exit; the signal itself only outside the command's scope (before Node ran our
        // code, or after the run was over and its handlers gone); the run's own when it was over
        const byHandler = r.code === SIGNAL_EXIT[sig];
        const outsideHandlers = r.code === null && r.signal === sig;
        const finished = r.code === 0;
        assert.ok(byHandler || outsideHandlers || finished, what);
        assert.doesNotMatch(r.out, /\n\s+at .*\(.*:\d+:\d+\)/, `no stack trace: ${what}`);
        if (byHandler) assert.match(r.out, new RegExp(`interrupted by ${sig}`), what);
        // whole: the runtime is the file, and the file is one whole step
        const rt = await runtimeOf(f);
        assert.deepEqual(rt, fileOf(f), `runtime equals dispatcher.list: ${what}`);
        assert.ok(
          whole().some((w) => JSON.stringify(w) === JSON.stringify(rt)),
          `runtime ${JSON.stringify(rt)} is a whole step: ${what}`,
        );
        if (c.name === "migrate") {
          // migrate ends where it promised: the last step that passed, or (none passed) the list it found
          const ev = existsSync(art) ? eventsOf(art) : [];
          const passed = ev.filter((e) => e.kind === "step" && e.state === "passed").at(-1);
          const want = finished
            ? whole()[1]
            : passed === undefined
              ? before
              : whole()[passed.weightNew === 0 ? 0 : passed.weightNew === 100 ? 1 : 2];
          assert.deepEqual(
            rt,
            want,
            `migrate left the last good step (${passed ? `step ${passed.index}, new=${passed.weightNew}%` : "none passed: the list before it"}): ${what}`,
          );
        }
        assert.ok(!existsSync(path.join(f.labDir, "apply.lock")), `apply lock released: ${what}`);
        assert.deepEqual(processesNaming(art), [], `no process of the run left: ${what}`);
        // the lab it found running is still running, the same processes, healthy
        const st = await f.cli(["lab", "status", ...f.flags]);
        assert.equal(st.code, 0, `lab still healthy: ${st.stdout}${st.stderr}\n${what}`);
        const pids = JSON.stringify(
          (
            JSON.parse(readFileSync(path.join(f.labDir, "lab.json"), "utf8")) as { components: { pid: number }[] }
          ).components.map((x) => x.pid),
        );
        assert.equal(pids, labPids, `the lab's processes are the ones it had: ${what}`);
        // a run that was interrupted says so in its results, when it got as far as a run folder
        if (byHandler && existsSync(art)) {
          for (const run of readdirSync(art).filter((n) => n !== "latest")) {
            const res = path.join(art, run, "results.json");
            if (existsSync(res)) {
              const j = JSON.parse(readFileSync(res, "utf8")) as { exitCode?: number; status?: string };
              // a signal after the run had ended (its results written, PASS printed) while its scope was
              // still closing: the results keep the run's own exit code
              const after = /nothing was running\s*$/.test(r.out) || /^(migrate: )?PASS: /m.test(r.out);
              assert.ok(
                j.exitCode === SIGNAL_EXIT[sig] || (after && j.exitCode === 0),
                `results.json exit code ${j.exitCode}: ${what}`,
              );
            }
          }
        }
      });
    }
  }
});
