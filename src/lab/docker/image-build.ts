import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { EnvironmentError } from "../../core/errors.js";
import type { Scope } from "../../core/scope.js";
import { ensureDir } from "../../files/ensure-dir.js";
import { realServicesDir, requireFreeswitchTree } from "../freeswitch/install.js";
import type { ArgvRunner } from "../../kamailio/kamcmd-rpc.js";
import {
  BASE_IMAGE,
  BASE_RECIPE,
  INPUTS_LABEL,
  freeswitchImage,
  inputsHash,
  fusionpbxImage,
  kamailioImage,
  postgresImage,
  sippImage,
  type ImageSpec,
} from "./images.js";

/**
 * Builds the Docker lab's local images when their inputs changed (effects). Every build runs under
 * `nice -n 10` (a shared 2-core machine); a failing step is exit 3 with its last lines.
 */

export interface BuiltImage {
  tag: string;
  what: string;
  /** reused: the image's inputs label matched */
  cached: boolean;
  ms: number;
}

function last(text: string, n = 12): string[] {
  // docker build colours a failing step's stderr: the message shows plain text
  // eslint-disable-next-line no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  return plain
    .trim()
    .split("\n")
    .slice(-n)
    .map((l) => `  ${l}`);
}

/** Run argv to completion, collecting output (bounded), killed with its process group when the scope aborts. */
function runLogged(
  argv: string[],
  scope: Scope,
  opts: { stdin?: "pipe-from"; input?: NodeJS.ReadableStream } = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const [bin, ...args] = argv;
    const child = spawn(bin!, args, { stdio: [opts.input ? "pipe" : "ignore", "pipe", "pipe"], detached: true });
    let output = "";
    const keep = (b: Buffer): void => {
      output += b.toString("utf8");
      if (output.length > 256 * 1024) output = output.slice(-128 * 1024);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    if (opts.input) opts.input.pipe(child.stdin!);
    const onAbort = (): void => {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        /* gone */
      }
    };
    scope.signal.addEventListener("abort", onAbort, { once: true });
    child.once("error", (err) => {
      scope.signal.removeEventListener("abort", onAbort);
      reject(new Error(`${bin}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
    child.once("close", (code, signal) => {
      scope.signal.removeEventListener("abort", onAbort);
      resolve({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}

async function imageLabel(run: ArgvRunner, tag: string): Promise<string | undefined> {
  const r = await run(
    ["docker", "image", "inspect", "--format", `{{ index .Config.Labels "${INPUTS_LABEL}" }}`, tag],
    30_000,
  );
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** The context's files as the hash sees them (host paths walked in a stable order). */
function readContext(spec: ImageSpec): { path: string; mode: number; bytes: Buffer }[] {
  const out: { path: string; mode: number; bytes: Buffer }[] = [];
  const walk = (host: string, rel: string): void => {
    const st = statSync(host);
    if (st.isDirectory()) {
      for (const name of readdirSync(host).sort()) walk(path.join(host, name), `${rel}/${name}`);
    } else {
      out.push({ path: rel, mode: st.mode, bytes: readFileSync(host) });
    }
  };
  for (const e of spec.context) {
    if ("text" in e) out.push({ path: e.dest, mode: 0o644, bytes: Buffer.from(e.text) });
    else walk(e.hostPath, e.dest);
  }
  return out;
}

/** The base image: imported from a debootstrap of Debian bookworm when absent (root; ~30 s). */
export async function ensureBaseImage(run: ArgvRunner, scope: Scope, stateDir: string): Promise<BuiltImage> {
  const started = performance.now();
  if ((await imageLabel(run, BASE_IMAGE)) !== undefined)
    return { tag: BASE_IMAGE, what: "Debian bookworm base", cached: true, ms: performance.now() - started };
  const debootstrap = ["/usr/sbin/debootstrap", "/usr/bin/debootstrap"].find((p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
  if (debootstrap === undefined) {
    throw new EnvironmentError(
      `the base image ${BASE_IMAGE} is missing and debootstrap is not installed; nothing was started`,
      ["as root: apt-get install -y debootstrap   (or `docker tag <a debian:bookworm image> " + BASE_IMAGE + "`)"],
    );
  }
  if (process.getuid?.() !== 0) {
    throw new EnvironmentError(
      `the base image ${BASE_IMAGE} is missing and debootstrap needs root; nothing was started`,
      [
        `as root: debootstrap --variant=minbase bookworm /tmp/rootfs && tar -C /tmp/rootfs -c . | docker import - ${BASE_IMAGE}`,
      ],
    );
  }
  ensureDir(stateDir);
  const root = mkdtempSync(path.join(stateDir, "debootstrap-"));
  try {
    const boot = await runLogged(
      ["nice", "-n", "10", debootstrap, "--variant=minbase", "bookworm", root, "http://deb.debian.org/debian"],
      scope,
    );
    if (boot.code !== 0) {
      throw new EnvironmentError(
        `building the base image ${BASE_IMAGE} failed at debootstrap (exit ${boot.code}); nothing was started`,
        last(boot.output),
      );
    }
    const tar = spawn("tar", ["-C", root, "-c", "."], { stdio: ["ignore", "pipe", "inherit"] });
    const imp = await runLogged(
      [
        "docker",
        "import",
        "--change",
        `LABEL ${INPUTS_LABEL}=${inputsHash({ dockerfile: BASE_RECIPE }, [])}`,
        "--change",
        'CMD ["/bin/bash"]',
        "-",
        BASE_IMAGE,
      ],
      scope,
      {
        input: tar.stdout,
      },
    );
    if (imp.code !== 0)
      throw new EnvironmentError(
        `building the base image ${BASE_IMAGE} failed at docker import (exit ${imp.code})`,
        last(imp.output),
      );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return {
    tag: BASE_IMAGE,
    what: "Debian bookworm base (debootstrap + docker import)",
    cached: false,
    ms: performance.now() - started,
  };
}

/** One image: reused when its inputs label matches, else built with `nice docker build`. */
export async function ensureImage(
  spec: ImageSpec,
  run: ArgvRunner,
  scope: Scope,
  stateDir: string,
): Promise<BuiltImage> {
  const started = performance.now();
  const hash = inputsHash(spec, readContext(spec));
  if ((await imageLabel(run, spec.tag)) === hash)
    return { tag: spec.tag, what: spec.what, cached: true, ms: performance.now() - started };
  ensureDir(stateDir);
  const ctx = mkdtempSync(path.join(stateDir, "build-"));
  try {
    writeFileSync(path.join(ctx, "Dockerfile"), spec.dockerfile);
    for (const e of spec.context) {
      const dest = path.join(ctx, e.dest);
      if ("text" in e) writeFileSync(dest, e.text);
      else cpSync(e.hostPath, dest, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    }
    const argv = [
      "nice",
      "-n",
      "10",
      "docker",
      "build",
      "--force-rm",
      "--network",
      "host",
      "--label",
      `${INPUTS_LABEL}=${hash}`,
      "-t",
      spec.tag,
      ctx,
    ];
    const r = await runLogged(argv, scope);
    if (r.code !== 0) {
      throw new EnvironmentError(
        `building the image ${spec.tag} (${spec.what}) failed (docker build exit ${r.code}); nothing was started`,
        last(r.output),
      );
    }
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  return { tag: spec.tag, what: spec.what, cached: false, ms: performance.now() - started };
}

/** A FusionPBX tree installed by `make real-services`, or exit 3 with what to do. */
function requireFusionpbxTree(tag: string, env: NodeJS.ProcessEnv): string {
  const tree = path.join(realServicesDir(env), `fusionpbx-${tag}`);
  if (!existsSync(path.join(tree, "core", "software", "resources", "classes", "software.php"))) {
    throw new EnvironmentError(`FusionPBX ${tag} is not installed at ${tree}; nothing was started`, [
      "install it with: make real-services (from PBX_CUTOVER_VENDOR, or from upstream; PBX_CUTOVER_REAL_SERVICES picks the directory)",
    ]);
  }
  return tree;
}

/** The local image set: base, Kamailio, FreeSWITCH 1.10.3 and 1.10.12, SIPp, PostgreSQL, FusionPBX 5.3.0 and 5.5.7 (in that order). */
export function localImageSpecs(env: NodeJS.ProcessEnv = process.env): ImageSpec[] {
  return [
    kamailioImage(),
    freeswitchImage("old", "1.10.3", requireFreeswitchTree("old", "1.10.3", env)),
    freeswitchImage("new", "1.10.12", requireFreeswitchTree("new", "1.10.12", env)),
    sippImage(),
    postgresImage(),
    fusionpbxImage("old", "5.3.0", "5.3.3", requireFusionpbxTree("5.3.0", env)),
    fusionpbxImage("new", "5.5.7", "5.5.7", requireFusionpbxTree("5.5.7", env)),
  ];
}

export async function ensureLocalImages(
  run: ArgvRunner,
  scope: Scope,
  stateDir: string,
  specs: ImageSpec[] = localImageSpecs(),
): Promise<BuiltImage[]> {
  const out = [await ensureBaseImage(run, scope, stateDir)];
  for (const spec of specs) out.push(await ensureImage(spec, run, scope, stateDir));
  return out;
}
