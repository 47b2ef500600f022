/**
 * Benchmark: the automatic rollback's reaction at 500 calls/s (target: traffic to the failing backend
 * stopped within 1 s): from the first failing call's INVITE (as Kamailio received it) to new out of
 * selection (the take-out's dispatcher.set_state, read back) and to the restored runtime read back,
 * and how many calls the failing backend received until each (and how many of them failed: the calls lost).
 *
 * `pbx-cutover migrate --steps 0,10 --traffic RATE` (CLI processes, as an operator runs it) on a lab
 * with algorithm 9 and the new stand-in refusing every fifth call (503-one-in-five): step 2 (new=10 %)
 * fails its ISA/SER gates and goes back to step 1 (old). Run twice over: with the lab's reload_delta 0
 * and with Kamailio's default 5 s, where the rollback's reload is refused ("Ongoing reload") until 5 s
 * after step 2's reload, and verified apply waits that out: then the guard, not the tool, dominates.
 *
 * The output also breaks the reaction into its links (median of each segment, src/plan/reaction.ts:
 * the first failing call's own answer, the evidence the gate waited for, HEP's mirror lag, the
 * verdict, the runner noticing, the rollback's write, reload guard, reload and read-back) and gives
 * the machine's load average while it ran.
 *
 * Usage: node dist/bench/rollback.bench.js [runs per setting] [rate]
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { REACTION_SEGMENTS } from "../src/plan/reaction.js";
import { labFixture } from "../test/support/lab-fixture.js";
import { median } from "./support/median.js";

interface Rollback {
  ok: boolean;
  durationMs: number;
  reloadWaitedMs?: number;
  reloadRefusals?: number;
  takeOut?: { ok: boolean; reason?: string };
  reaction?: {
    reactionMs: number;
    stopMs?: number;
    untilStopped?: { routed: number; failed: number };
    afterStopped?: { routed: number; failed: number };
    firstFailingCallMs: number;
    restoredAtMs: number;
    routed: number;
    failed: number;
    unanswered: number;
    segments?: Partial<Record<string, number>>;
  };
}

const fmt = (xs: number[], unit = "ms", digits = 0): string =>
  `median ${median(xs).toFixed(digits)} ${unit} (min ${Math.min(...xs).toFixed(digits)}, max ${Math.max(...xs).toFixed(digits)}, n=${xs.length})`;

async function bench(reloadDelta: number, runs: number, rate: string): Promise<void> {
  const f = await labFixture();
  const lab = [...f.flags, "--dispatcher-alg", "9", "--reload-delta", String(reloadDelta)];
  try {
    const up = await f.cli(["lab", "up", ...lab, "--new-stand-in", "503-one-in-five"]);
    if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);
    const rows: Rollback[] = [];
    const load = [os.loadavg()[0]!];
    for (let i = 0; i < runs; i++) {
      const art = path.join(f.dir, `art-${i}`);
      const r = await f.cli(["migrate", ...lab, "--artifacts-dir", art, "--steps", "0,10", "--traffic", rate], {
        timeoutMs: 180_000,
      });
      const dir = /run folder (\S+)/.exec(r.stdout)?.[1];
      if (r.code !== 1 || dir === undefined)
        throw new Error(`run ${i}: expected exit 1 (rollback), got ${r.code}: ${r.stderr}${r.stdout}`);
      const res = JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as { rollback?: Rollback };
      if (!res.rollback?.ok || !res.rollback.reaction)
        throw new Error(`run ${i}: no verified rollback with a reaction: ${JSON.stringify(res.rollback)}`);
      rows.push(res.rollback);
      load.push(os.loadavg()[0]!);
    }
    const reaction = rows.map((x) => x.reaction!.reactionMs);
    const detect = rows.map((x) => x.reaction!.reactionMs - x.durationMs);
    console.log(`reload_delta ${reloadDelta} s, ${rate} calls/s, new=10 % refusing 1 in 5 (${runs} runs):`);
    const stopped = rows.filter((x) => x.reaction!.stopMs !== undefined);
    if (stopped.length < rows.length)
      console.log(
        `  not taken out first in ${rows.length - stopped.length} run(s): ${rows
          .filter((x) => x.reaction!.stopMs === undefined)
          .map((x) => x.takeOut?.reason ?? "no take-out")
          .join("; ")}`,
      );
    if (stopped.length > 0) {
      console.log(
        `  traffic stopped (first failing call's INVITE -> new out of selection):  ${fmt(stopped.map((x) => x.reaction!.stopMs!))}`,
      );
      console.log(
        `    calls new received until then: ${fmt(
          stopped.map((x) => x.reaction!.untilStopped?.routed ?? 0),
          "calls",
        )}, failed ${fmt(
          stopped.map((x) => x.reaction!.untilStopped?.failed ?? 0),
          "calls",
        )}; after: ${stopped.map((x) => x.reaction!.afterStopped?.routed ?? 0).join("/")}`,
      );
    }
    console.log(`  routing restored (first failing call's INVITE -> restored runtime read back): ${fmt(reaction)}`);
    console.log(`    of which deciding (first failing call -> rollback starts):          ${fmt(detect)}`);
    console.log(
      `    of which the rollback's verified apply:                             ${fmt(
        rows.map((x) => x.durationMs),
        "ms",
        1,
      )}`,
    );
    console.log(
      `    of which waiting out Kamailio's reload guard ("Ongoing reload"):     ${fmt(rows.map((x) => x.reloadWaitedMs ?? 0))}, refusals ${rows.map((x) => x.reloadRefusals ?? 0).join("/")}`,
    );
    console.log(
      `  calls the failing backend received in that time: ${fmt(
        rows.map((x) => x.reaction!.routed),
        "calls",
      )}`,
    );
    console.log(
      `  of them failed (lost to the caller):              ${fmt(
        rows.map((x) => x.reaction!.failed),
        "calls",
      )}`,
    );
    console.log(`  the chain, link by link (median of each segment; src/plan/reaction.ts):`);
    for (const seg of REACTION_SEGMENTS) {
      const xs = rows.map((x) => x.reaction!.segments?.[seg.name]).filter((v): v is number => v !== undefined);
      if (xs.length > 0) console.log(`    ${seg.name.padEnd(9)} ${fmt(xs, "ms", 1).padEnd(44)} ${seg.label}`);
    }
    console.log(
      `  per run (stopped ms / restored ms / new received until stopped / until restored / failed): ${rows.map((x) => `${x.reaction!.stopMs?.toFixed(0) ?? "-"}/${x.reaction!.reactionMs.toFixed(0)}/${x.reaction!.untilStopped?.routed ?? "-"}/${x.reaction!.routed}/${x.reaction!.failed}`).join(", ")}`,
    );
    console.log(
      `  load average (1 min) during the runs: ${Math.min(...load).toFixed(2)}-${Math.max(...load).toFixed(2)}`,
    );
  } finally {
    await f.dispose();
  }
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5);
  const rate = process.argv[3] ?? "500";
  await bench(0, runs, rate);
  await bench(5, runs, rate);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
