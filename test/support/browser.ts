/**
 * Debian's Chromium, headless, driven by playwright-core (never a browser download): a fresh
 * profile per launch, no background traffic of its own, removed on close.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = process.env["PBX_CUTOVER_CHROMIUM"] ?? "/usr/bin/chromium";

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** `offline`: every request that is not a file: URL fails in the browser itself (a dead proxy). */
export async function launchBrowser(o: { offline?: boolean } = {}): Promise<TestBrowser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-chromium-"));
  // headless: true and the profile argument give Chromium --headless and a fresh --user-data-dir
  const args = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    ...(o.offline ? ["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"] : []),
  ];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1280, height: 1000 },
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
