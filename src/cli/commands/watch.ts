import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { EVENT_LOG_FILE } from "../../events/event-log.js";
import { EventLogFollower } from "../../web/event-log-follower.js";
import { LiveView } from "../../web/live-view.js";
import { checkRunDir, REPORT_FILE } from "../../web/run-report.js";
import { WebServer } from "../../web/server.js";
import { addWebOptions, webAddressFrom, type WebFlags } from "../../web/web-address.js";
import { delay, withScope } from "../../core/scope.js";

const POLL_MS = 100;

export function registerWatchCommand(program: Command): void {
  const cmd = program
    .command("watch")
    .summary("the live web page of a run started elsewhere")
    .argument("<run-dir>", "the run folder of a sim, dashboard or migrate running elsewhere (e.g. artifacts/latest)")
    .description(
      "serve the live web page of a run started by another process, following its events.ndjson (the same page " +
        "as --web); ends when that run has finished and its report.html is written; a run already over is served " +
        "until Ctrl-C. --web picks the address (default 127.0.0.1, a free port)",
    );
  addWebOptions(cmd).action(async (runDir: string, opts: WebFlags) => {
    const dir = path.resolve(runDir);
    checkRunDir(dir);
    const addr = webAddressFrom({ ...opts, web: opts.web ?? true })!;
    await withScope(async (scope) => {
      const server = await WebServer.start(addr);
      scope.defer("web server", () => server.close());
      const follower = new EventLogFollower(path.join(dir, EVENT_LOG_FILE));
      let finished = false;
      follower.subscribe((e) => {
        if (e.kind === "run-finished") finished = true;
      });
      const live = new LiveView(server, dir).attach(follower);
      scope.defer("web view", () => live.close());
      follower.poll();
      const over = finished;
      process.stderr.write(
        `pbx-cutover: live view of ${path.basename(dir)} at ${server.url} (read-only)${over ? "; the run is over: serving its final view until Ctrl-C" : ""}\n`,
      );
      for (;;) {
        await delay(POLL_MS, scope.signal);
        follower.poll();
        // the run's own process writes report.html after run-finished: wait for it (bounded) so the page links it
        if (finished && !over) {
          for (let i = 0; i < 50 && !existsSync(path.join(dir, REPORT_FILE)); i++) await delay(POLL_MS, scope.signal);
          return;
        }
      }
    });
  });
}
