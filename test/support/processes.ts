import { readdirSync, readFileSync } from "node:fs";

/**
 * Processes (other than this one) whose command line names any of `needles`, as "pid: argv": a
 * run's artifacts dir, its Call-ID prefix or a lab dir is in the argv of everything it starts, so
 * an empty list means nothing of it is left.
 */
export function processesNaming(...needles: string[]): string[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .flatMap((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, "latin1").replace(/\0/g, " ");
        return needles.some((n) => cmd.includes(n)) ? [`${p}: ${cmd}`] : [];
      } catch {
        return []; // gone meanwhile
      }
    });
}
