/**
 * Loaded into a bench's CLI process with `node --import` (never by the tool itself): once a second,
 * `process.memoryUsage()` of the main thread (RSS, the JavaScript heap, external memory and ArrayBuffers) as one JSON line
 * appended to the file named by PBX_BENCH_MEM_FILE. The timer does not keep the process alive.
 */
import { appendFileSync } from "node:fs";
import { isMainThread } from "node:worker_threads";

const file = process.env.PBX_BENCH_MEM_FILE;
if (isMainThread && file !== undefined && file !== "") {
  const take = (): void => {
    const m = process.memoryUsage();
    try {
      appendFileSync(
        file,
        `${JSON.stringify({ wallMs: Date.now(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers })}\n`,
      );
    } catch {
      /* the bench's file is gone: nothing to report to */
    }
  };
  setInterval(take, 1000).unref();
}
