/**
 * An in-memory stand-in for one Kamailio's dispatcher (for unit tests of the apply protocol only;
 * the e2e tests use the real Kamailio). It behaves like 5.6.3 as recorded in the field notes and
 * fixtures: reload reads the list file, skips destinations it cannot use with a warning and still
 * answers Ok (the real one does that for a host it cannot resolve; no SIP policy lets a host name
 * through, so here the stand-in for "cannot use" is an address in TEST-NET-1, 192.0.2.0/24, which
 * the fake target's policy allows), refuses reloads within reload_delta with 500 "Ongoing reload"
 * without resetting its timer, answers 500 "Reload Failed" when the file is missing, and
 * dispatcher.list answers 500 "No Destination Sets" when nothing is loaded.
 */
import { sipPolicy } from "../../src/sip/sip-policy.js";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { entriesOf, parseDispatcherList } from "../../src/dispatcher/list.js";
import { RpcReplyError, RpcUnavailableError, type RpcClient } from "../../src/kamailio/rpc.js";
import type { DispatcherListStore, Target } from "../../src/target/target.js";

export class FakeKamailio implements RpcClient, DispatcherListStore {
  readonly endpoint = "fake://kamailio/RPC";
  readonly location = "fake:dispatcher.list";
  file: string | undefined;
  loaded: { setId: number; uri: string; flags: number; attrs?: string | undefined; state?: string }[] = [];
  /** dispatcher.set_state fails with this reply when set */
  failSetState: string | undefined;
  reloadDeltaMs = 0;
  lastReloadAt = -Infinity;
  /** the next N calls (of `unavailableMethod`, or any) fail as unreachable */
  unavailableCalls = 0;
  unavailableMethod: string | undefined;
  /** the RPC goes away for good as soon as the list is written */
  goDownOnWrite = false;
  failReloads = false;
  calls: string[] = [];
  writes = 0;
  /** the main process's pid and start time (core.psx, core.uptime); restart() changes them */
  pid = 4242;
  upSince = "Mon Dec  7 10:00:00 2026";

  constructor(initial: string) {
    this.file = initial;
    this.load();
  }

  private load(): void {
    this.loaded = entriesOf(parseDispatcherList(this.file ?? ""))
      .filter((e) => !/^sips?:(?:[^@]*@)?192\.0\.2\.\d+(:|;|$)/.test(e.uri))
      .map((e) => ({ setId: e.setId, uri: e.uri, flags: e.flags }));
  }

  /** Kamailio stopped and started again: the runtime is the file's again, set_state and the reload guard forgotten */
  restart(): void {
    this.pid++;
    this.upSince = `Mon Dec  7 10:00:0${this.pid % 10} 2026`;
    this.lastReloadAt = -Infinity;
    this.load();
  }

  read(): Promise<string> {
    if (this.file === undefined) return Promise.reject(Object.assign(new Error("ENOENT"), { code: "ENOENT" }));
    return Promise.resolve(this.file);
  }

  writeAtomic(text: string): Promise<void> {
    this.writes++;
    this.file = text;
    if (this.goDownOnWrite) this.unavailableCalls = Infinity;
    return Promise.resolve();
  }

  call(method: string, params: readonly (string | number)[] = []): Promise<unknown> {
    this.calls.push(method);
    if (this.unavailableCalls > 0 && (this.unavailableMethod === undefined || this.unavailableMethod === method)) {
      this.unavailableCalls--;
      return Promise.reject(new RpcUnavailableError(this.endpoint, "ECONNREFUSED"));
    }
    if (method === "core.version") return Promise.resolve("kamailio 5.6.3 (pbx-cutover test stand-in)");
    if (method === "core.psx")
      return Promise.resolve([
        { IDX: 0, PID: this.pid, DSC: "main process - attendant" },
        { IDX: 1, PID: this.pid + 1, DSC: "udp receiver child=0 sock=127.0.0.1:15060" },
      ]);
    if (method === "core.uptime") return Promise.resolve({ now: this.upSince, up_since: this.upSince, uptime: 0 });
    if (method === "dispatcher.reload") {
      const now = performance.now();
      if (now - this.lastReloadAt < this.reloadDeltaMs)
        return Promise.reject(new RpcReplyError(method, 500, "Ongoing reload"));
      if (this.failReloads || this.file === undefined)
        return Promise.reject(new RpcReplyError(method, 500, "Reload Failed"));
      this.lastReloadAt = now;
      this.load();
      return Promise.resolve("Ok. Dispatcher successfully reloaded.");
    }
    if (method === "dispatcher.set_state") {
      // memory only, never throttled by reload_delta; the next reload brings back the file's state
      const [state, setId, uri] = params;
      const d = this.loaded.find((x) => x.setId === Number(setId) && x.uri === uri);
      if (this.failSetState !== undefined || d === undefined || typeof state !== "string")
        return Promise.reject(new RpcReplyError(method, 500, this.failSetState ?? "State Update Failed"));
      d.state = state.startsWith("d") ? "DX" : state.startsWith("i") ? "IX" : "AX";
      return Promise.resolve("Ok. Dispatcher state updated.");
    }
    if (method === "dispatcher.list") {
      if (this.loaded.length === 0) return Promise.reject(new RpcReplyError(method, 500, "No Destination Sets"));
      const sets = [...new Set(this.loaded.map((d) => d.setId))];
      return Promise.resolve({
        NRSETS: sets.length,
        RECORDS: sets.map((id) => ({
          SET: {
            ID: id,
            TARGETS: this.loaded
              .filter((d) => d.setId === id)
              .map((d) => ({
                DEST: {
                  URI: d.uri,
                  FLAGS: d.state ?? (d.flags & 1 ? "IX" : "AX"),
                  PRIORITY: 0,
                  ...(d.attrs ? { ATTRS: { BODY: d.attrs.replace(/;$/, "") } } : {}),
                },
              })),
          },
        })),
      });
    }
    return Promise.reject(new RpcReplyError(method, 500, "command not found"));
  }

  runtimeUris(): string[] {
    return this.loaded.map((d) => d.uri);
  }

  close(): void {}
}

/** destinations the fake Kamailio skips at reload (TEST-NET-1) */
export const UNUSABLE_NET = "192.0.2.0/24";
export const OLD = "sip:127.0.0.1:15070";
export const NEW = "sip:127.0.0.1:15080";

/** A Target around a FakeKamailio, with its lock and backups in a fresh temp dir. */
export function fakeTarget(initial = `# initial\n1 ${OLD} 0 0\n`): { target: Target; kam: FakeKamailio; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-apply-"));
  const kam = new FakeKamailio(initial);
  const target: Target = {
    driver: "native",
    proxy: { address: "127.0.0.1", port: 15060 },
    setId: 1,
    sipPolicy: sipPolicy("the test's SIP policy", ["127.0.0.0/8", UNUSABLE_NET]),
    backends: {
      old: { role: "old", address: "127.0.0.1", port: 15070, uri: OLD, messageLog: undefined },
      new: { role: "new", address: "127.0.0.1", port: 15080, uri: NEW, messageLog: undefined },
    },
    dispatcherList: kam,
    rpc: kam,
    kamcmdArgv: (m, ...p) => ["kamcmd", m, ...p],
    lockPath: path.join(dir, "apply.lock"),
    close: () => undefined,
  };
  return { target, kam, dir };
}
