/**
 * The opening the fleet e2e files share: three "production" nodes (production-node.ts) shaped like an
 * operator's (algorithm 9, Kamailio's default reload_delta, the old PBX alone in each list with the
 * operator's attrs), each with its own list file, all in front of the first node's two PBXs and all
 * mirroring HEP to one free port; a temp dir and the fleet's target file naming them kam1..kamN.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  freeUdpPort,
  startCallers,
  startProductionNode,
  writeFleetTargetFile,
  type Callers,
  type NodeAuth,
  type ProductionNode,
} from "./production-node.js";
import { OLD_ATTRS } from "./target-node.js";

export interface TargetFleet {
  nodes: ProductionNode[];
  /** kam1, kam2, ... as the target file names them */
  names: string[];
  dir: string;
  /** the fleet's target file */
  file: string;
  /** the collector address every node mirrors to (the target file's hep.collector) */
  hep: { address: string; port: number };
  /** SIPp users calling through every node at `ratePerNode` calls/s until dispose() */
  callers(ratePerNode: number): Callers[];
  dispose(): Promise<void>;
}

export async function targetFleet(o: { prefix: string; auth: NodeAuth; count?: number }): Promise<TargetFleet> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `pbx-cutover-e2e-${o.prefix}-`));
  const hep = { address: "127.0.0.1", port: await freeUdpPort() };
  const nodes: ProductionNode[] = [];
  const started: Callers[] = [];
  const dispose = async (): Promise<void> => {
    await Promise.all(started.map((c) => c.stop()));
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const common = {
      auth: o.auth,
      algorithm: 9 as const,
      hep,
      initialList: (u: { old: string }) => `1 ${u.old} 0 0 ${OLD_ATTRS}\n`,
    };
    nodes.push(await startProductionNode(common));
    for (let i = 1; i < (o.count ?? 3); i++)
      nodes.push(await startProductionNode({ ...common, sharedBackends: nodes[0]!.backends }));
    const names = nodes.map((_, i) => `kam${i + 1}`);
    const file = writeFleetTargetFile(
      nodes.map((node, i) => ({ name: names[i]!, node })),
      dir,
      o.auth,
      { algorithm: 9, lines: { old: { attrs: OLD_ATTRS } } },
    );
    return {
      nodes,
      names,
      dir,
      file,
      hep,
      callers: (rate) => {
        const c = nodes.map((n) => startCallers(n, dir, rate));
        started.push(...c);
        return c;
      },
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}
