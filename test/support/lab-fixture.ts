import { spawn } from "node:child_process";
import dgram from "node:dgram";
import net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isTcpFree, isUdpFree } from "../../src/os/ports.js";
import { processesNaming } from "./processes.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const CLI = path.join(ROOT, "dist", "src", "cli", "main.js");

/** A UDP port the kernel hands out on 127.0.0.1 now (free until something else binds it). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A TCP port the kernel hands out on 127.0.0.1 now (free until something else binds it). */
export async function freeTcpPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Five consecutive free ports (sip udp, rpc tcp, old udp, new udp, hep udp) from a random base. */
export async function freePorts(): Promise<{ sip: number; rpc: number; old: number; new: number; hep: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 2000) * 10;
    const ok = await Promise.all([
      isUdpFree("127.0.0.1", base),
      isTcpFree("127.0.0.1", base + 1),
      isUdpFree("127.0.0.1", base + 2),
      isUdpFree("127.0.0.1", base + 3),
      isUdpFree("127.0.0.1", base + 4),
    ]);
    if (ok.every(Boolean)) return { sip: base, rpc: base + 1, old: base + 2, new: base + 3, hep: base + 4 };
  }
  throw new Error("no free ports found");
}

export interface LabFixture {
  dir: string;
  labDir: string;
  ports: Awaited<ReturnType<typeof freePorts>>;
  /** the lab flags for this fixture: pass to any command */
  flags: string[];
  cli(args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult>;
  /** lab down + remove the temp dir */
  dispose(): Promise<void>;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<CliResult> {
  return runProgram(process.execPath, [CLI, ...args], opts);
}

/** Run any program (e.g. a seed wrapper script) to completion, capturing its output. */
export function runProgram(
  program: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A temp dir with its own lab dir and free ports. Always dispose (after/finally). */
export async function labFixture(): Promise<LabFixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-e2e-"));
  const labDir = path.join(dir, "lab");
  const ports = await freePorts();
  const flags = [
    "--lab-dir",
    labDir,
    "--sip-port",
    String(ports.sip),
    "--rpc-port",
    String(ports.rpc),
    "--old-port",
    String(ports.old),
    "--new-port",
    String(ports.new),
    "--hep-port",
    String(ports.hep),
  ];
  return {
    dir,
    labDir,
    ports,
    flags,
    cli: (args, o) => runCli(args, { cwd: dir, ...o }),
    async dispose() {
      const down = await runCli(["lab", "down", "--lab-dir", labDir], { cwd: dir });
      // whatever `lab down` said, nothing of this lab outlives the fixture; what it left is a defect, named
      const left = await killLeft(labDir);
      rmSync(dir, { recursive: true, force: true });
      if (left.length > 0)
        throw new Error(
          `lab down (exit ${down.code ?? down.signal}) left ${left.length} process(es) of ${labDir}, killed now:\n${left.join("\n")}\n${down.stdout}${down.stderr}`,
        );
    },
  };
}

/** SIGKILL every process whose command line names `dir`; the ones there were, as "pid: argv". */
async function killLeft(dir: string): Promise<string[]> {
  const left = processesNaming(dir);
  for (const p of left) {
    try {
      process.kill(Number(p.slice(0, p.indexOf(":"))), "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  for (let i = 0; i < 100 && processesNaming(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return left;
}
