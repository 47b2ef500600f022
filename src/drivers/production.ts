import path from "node:path";
import { UsageError } from "../core/errors.js";
import { productionTarget } from "../target/production-target.js";
import { readTargetFile, type ProductionTargetSpec, type TargetNode } from "../target/target-file.js";
import type { Target } from "../target/target.js";
import { freeswitchPbx } from "../freeswitch/channel-list.js";
import type { DriverKind, ProductionChoice } from "./driver.js";
import { unmanagedKamailio } from "./lab-control.js";

/** a run on a target looks for a restart of its Kamailio this often (besides before each step passes and is applied) */
const RESTART_WATCH_MS = 1000;

/**
 * A Kamailio the tool did not start (`--target FILE`, src/target/target-file.ts): its RPC over the
 * transport the target file names, the operator's own dispatcher list, the destinations the file calls
 * old and new. Nothing is started or stopped; the lock and list backups live in the target's state dir;
 * migrate judges its steps on the real calls the node mirrors to the file's HEP collector.
 */
export const productionDriver: DriverKind<ProductionChoice> = {
  name: "production",
  adoptsRunningLab: false,
  choose: ({ settings, flags, env }) => {
    if (flags.target === undefined) {
      throw new UsageError("--driver production works on a target file: pass --target FILE; nothing was started");
    }
    return { driver: "production", settings, spec: readTargetFile(flags.target, env) };
  },
  bind: (c) => {
    const node = c.spec.nodes[0]!;
    const fleet = c.spec.nodes.length > 1;
    const names = c.spec.nodes.map((n) => n.name).join(", ");
    return {
      name: "production",
      sipPolicy: c.spec.sipPolicy,
      dispatcherAlgorithm: c.spec.algorithm,
      lockDir: path.join(c.spec.stateDir, node.name),
      where: `target ${c.spec.id} (${c.spec.source})`,
      realPbx: false,
      echoesMedia: false,
      mediaRelay: undefined,
      placesTraffic: false,
      restartWatchMs: RESTART_WATCH_MS,
      mirroredCalls: c.spec.hepCollector,
      destinationsFrom: c.spec.source,
      kamailioDownHint: `node ${node.name} does not answer; pbx-cutover target check --target ${c.spec.source} says why`,
      openTarget: () =>
        Promise.resolve().then(() => {
          if (fleet)
            throw new UsageError(
              `${c.spec.source} names ${c.spec.nodes.length} nodes (${names}); this command works on one node for now (apply, rollback, migrate, plan --dry-run and the control commands work on a fleet); nothing was changed`,
            );
          return nodeTarget(c.spec, node);
        }),
      ...(fleet
        ? {
            openFleet: () =>
              Promise.resolve().then(() => c.spec.nodes.map((n) => ({ name: n.name, target: nodeTarget(c.spec, n) }))),
          }
        : {}),
      lab: () => unmanagedKamailio(),
      versionSources: () => [],
      withVerifyDefaults: (config) => config,
    };
  },
};

/**
 * A node's Target with the PBXs the target file names an event socket for: every node fronts the same
 * PBXs, so each node's Target holds the same sources and the drain asks the run's one target's.
 */
function nodeTarget(spec: ProductionTargetSpec, node: TargetNode): Target {
  const t = productionTarget(spec, node);
  const pbx: NonNullable<Target["pbx"]> = {};
  for (const role of ["old", "new"] as const) {
    const es = spec.pbx[role]?.eventSocket;
    if (es) pbx[role] = freeswitchPbx(role, { host: es.host, port: es.port }, () => es.password.reveal(), es.timeoutMs);
  }
  return Object.keys(pbx).length > 0 ? { ...t, pbx } : t;
}
