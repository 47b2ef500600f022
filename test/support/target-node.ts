/**
 * The opening every `target-*` e2e shares: a "production" node (production-node.ts) shaped like an
 * operator's (algorithm 9, Kamailio's default reload_delta, HEP mirrored to a free port, the old PBX
 * alone in its list with the operator's attrs), a temp dir, and the target file that describes it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  freeUdpPort,
  startCallers,
  startProductionNode,
  writeTargetFile,
  type Callers,
  type NodeAuth,
  type ProductionNode,
  type ProductionNodeOptions,
  type TargetFileOptions,
} from "./production-node.js";
import { startCli, until, type RunningCli } from "./running-cli.js";

export interface TargetNode {
  node: ProductionNode;
  /** the test's temp dir (the target file, its secrets, the run folders) */
  dir: string;
  /** the target file */
  file: string;
  /** the RPC secret the target file's secret file holds */
  secret: string;
  /** SIPp users calling through the node at `rate` calls/s until dispose() or their stop() */
  callers(rate: number): Callers;
  /** callers stopped, node stopped, temp dir removed */
  dispose(): Promise<void>;
}

/** the old PBX's line as the operator's list writes it */
export const OLD_ATTRS = "duid=old-pbx";

export async function targetNode(o: {
  /** the temp dir's name starts with pbx-cutover-e2e-<prefix>- */
  prefix: string;
  auth: NodeAuth;
  node?: Partial<Omit<ProductionNodeOptions, "auth">>;
  target?: TargetFileOptions;
}): Promise<TargetNode> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `pbx-cutover-e2e-${o.prefix}-`));
  const started: Callers[] = [];
  let node: ProductionNode | undefined;
  try {
    node = await startProductionNode({
      auth: o.auth,
      algorithm: 9,
      hep: { address: "127.0.0.1", port: await freeUdpPort() },
      initialList: (u) => `1 ${u.old} 0 0 ${OLD_ATTRS}\n`,
      ...o.node,
    });
    const { file, secret } = writeTargetFile(node, dir, o.auth, {
      algorithm: 9,
      lines: { old: { attrs: OLD_ATTRS } },
      ...o.target,
    });
    const n = node;
    return {
      node: n,
      dir,
      file,
      secret,
      callers: (rate) => {
        const c = startCallers(n, dir, rate);
        started.push(c);
        return c;
      },
      async dispose() {
        await Promise.all(started.map((c) => c.stop()));
        await n.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The node's list file's entries (no comments, no blank lines). */
export const listEntries = (text: string): string[] => text.split("\n").filter((l) => /^\d/.test(l));

/**
 * `migrate --target FILE --plan P` started in `dir` with a plan whose step 2 (new=10%) holds 30 s;
 * once it holds, `node`'s Kamailio is restarted. Returns the run's end, the node's pid before the
 * restart and when the node answered again.
 */
export async function restartDuringStep2(
  dir: string,
  file: string,
  node: ProductionNode,
): Promise<{ run: RunningCli; code: number | null; out: string; pidBefore: number; restartedAtMs: number }> {
  const plan = path.join(dir, "plan.yaml");
  // step 2 holds long enough for the restart to land in it; its gates never see enough calls to fail it
  writeFileSync(plan, "steps:\n  - 0\n  - weightNew: 10\n    hold: { durationS: 30 }\n  - 100\n");
  const run = startCli({ dir }, [
    "migrate",
    "--target",
    file,
    "--artifacts-dir",
    path.join(dir, "art"),
    "--plan",
    plan,
  ]);
  await until("step 2's hold", () => /step 2\/3 new=10%: holding/.test(run.out()), 120_000);
  const pidBefore = ((await node.rpc("core.psx")) as { PID: number }[])[0]!.PID;
  await node.restart();
  const restartedAtMs = Date.now();
  const code = await run.closed;
  return { run, code, out: run.out() + run.err(), pidBefore, restartedAtMs };
}
