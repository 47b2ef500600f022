import type { LabSettings } from "../config/lab-config.js";
import type { VerifySection } from "../config/verify-config.js";
import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import type { DockerBackends } from "../lab/docker/topology.js";
import type { ImageSet } from "../lab/docker/images.js";
import type { LabState } from "../lab/state.js";
import type { SipPolicy } from "../sip/sip-policy.js";
import type { DriverName, Target } from "../target/target.js";
import type { VersionSource } from "../verify/probes.js";
import type { ProductionTargetSpec } from "../target/target-file.js";
import type { LabControl } from "./lab-control.js";
import type { FleetMember } from "../fleet/fleet-apply.js";

export type { DriverName } from "../target/target.js";

/**
 * Which target a command works on, as values: the command resolves its flags, the config file and
 * the running lab once (`targetChoiceFrom`, src/cli/target-options.ts) and hands the choice down;
 * nothing below the CLI reads a flag or the config file. `driverFor(choice)` (select.ts) gives the
 * choice's Driver.
 */
export interface NativeChoice {
  driver: "native";
  /** flags over the config file over the recorded settings of a lab running in the lab dir */
  settings: LabSettings;
  /** that running lab's state file (its components: what verify reads versions from), read with the settings */
  running?: LabState;
}

export interface DockerChoice {
  driver: "docker";
  /** what the flags and config file say (HEP, knobs of the command); the Docker lab's topology is its own */
  settings: LabSettings;
  /** the directory with the compose files */
  dir: string;
  backends: DockerBackends;
  images: ImageSet;
  /** start Debian's dockerd when no engine answers (LabControl.ensureUp does it) */
  startEngine: boolean;
  readyTimeoutMs: number;
}

/** A Kamailio the tool did not start, described by a target file (`--target FILE`). */
export interface ProductionChoice {
  driver: "production";
  /** what the flags and config file say (knobs of the command); the target's own facts are in `spec` */
  settings: LabSettings;
  /** the target file, validated, with its secrets */
  spec: ProductionTargetSpec;
}

export type TargetChoice = NativeChoice | DockerChoice | ProductionChoice;

/** The driver flags as the command line gave them (strings, unchecked): each driver checks its own. */
export interface DriverFlags {
  driver?: string | undefined;
  /** --target FILE: a Kamailio the tool did not start (the production driver) */
  target?: string | undefined;
  dockerBackends?: string | undefined;
  dockerDir?: string | undefined;
  dockerImages?: string | undefined;
  dockerStartEngine?: boolean | undefined;
  /** --ready-timeout-ms as given (the lab settings hold it checked) */
  readyTimeoutMs?: string | undefined;
}

/** What a driver makes its choice from: the resolved lab settings, the running lab's state, its flags. */
export interface ChoiceInput {
  settings: LabSettings;
  /** the running native lab's state file, when the driver adopts it (`adoptsRunningLab`) */
  running: LabState | undefined;
  flags: DriverFlags;
  /** the command reads per-call evidence from backend message logs (sim, dashboard) */
  needsEvidence: boolean;
  env: NodeJS.ProcessEnv;
}

/**
 * Everything that differs between targets of different kinds, for one choice. Commands never ask
 * which driver they run on; they ask their Driver. One implementation per driver (native.ts,
 * docker.ts); select.ts is the one place that picks it, by the choice's `driver` name.
 *
 * A third driver, e.g. a production Kamailio described by a target file (RPC over HTTP or kamcmd, the
 * dispatcher list in a file or a DB table, no lab processes), is one more `DriverKind`: its choice type
 * (added to `TargetChoice`, its name to `DriverName`), `choose` (read and check the target file),
 * `bind`: `openTarget` builds the Target (an `RpcClient`, a `DispatcherListStore`, the backends, the
 * lock path); `lab()` starts and stops nothing (`ensureUp` answers `alreadyRunning` once Kamailio
 * answers); `sipPolicy` lists the target file's networks; `dispatcherAlgorithm` is the one the file
 * names; `lockDir` is where its lock lives; no version sources unless it has some.
 */
export interface Driver {
  readonly name: DriverName;
  /** where SIP may go: every dispatcher destination and every endpoint verify probes (known before anything is contacted) */
  readonly sipPolicy: SipPolicy;
  /** the ds_select_dst algorithm the target's Kamailio routes with (a plan's steps are checked against it) */
  readonly dispatcherAlgorithm: DispatcherAlgorithm;
  /** the directory of the target's apply lock (`Target.lockPath`), where a running plan leaves its control pointer */
  readonly lockDir: string;
  /** where the target lives, for messages: "lab dir .lab", "docker dir local-lab/real-services" */
  readonly where: string;
  /** the backends are real PBXs on this machine whose event sockets `sim` subscribes to (no message logs: HEP is the evidence) */
  readonly realPbx: boolean;
  /** the backends send the caller's audio back (the native lab's stand-ins and FreeSWITCH echo RTP): sim's media is on by default */
  readonly echoesMedia: boolean;
  /** the lab's media relay's ng control (lab up --media-relay rtpengine): each call's own counters; undefined: no relay */
  readonly mediaRelay: { address: string; port: number } | undefined;
  /** `migrate --traffic` can place calls through this target's Kamailio */
  readonly placesTraffic: boolean;
  /**
   * how often a run looks whether the target's Kamailio restarted (a Kamailio the tool did not start
   * can be restarted by anyone: its runtime goes back to its durable list); undefined: not watched (a
   * lab's Kamailio is the tool's own)
   */
  readonly restartWatchMs: number | undefined;
  /**
   * where the target's Kamailio mirrors its real calls (HEP): `migrate` judges its steps on them with
   * no calls of its own; undefined on a lab, whose calls the tool places
   */
  readonly mirroredCalls: { address: string; port: number } | undefined;
  /** the file that names the target's old and new destinations (then --old-uri / --new-uri are refused) */
  readonly destinationsFrom: string | undefined;
  /** what to tell the user when Kamailio does not answer (verify) */
  readonly kamailioDownHint: string;
  /** the Target of the choice; the caller owns it (close() when done) */
  openTarget(): Promise<Target>;
  /**
   * a target file naming several nodes: each node's Target (the caller closes them); then openTarget
   * refuses (exit 2) for the commands that do not work on a fleet yet
   */
  openFleet?(): Promise<FleetMember[]>;
  /** "make sure it is up, and take down what I started" for migrate, sim and dashboard */
  lab(): LabControl;
  /** versions `verify` reads besides the probes (inside containers, of binaries) */
  versionSources(): VersionSource[];
  /** `verify`'s config with the driver's defaults filled in where the config file names nothing */
  withVerifyDefaults(config: VerifySection): VerifySection;
}

/** A driver before a choice: how its choice is made from the flags, and the Driver of a choice. */
export interface DriverKind<C extends TargetChoice = TargetChoice> {
  readonly name: C["driver"];
  /** the lab settings adopt the recorded settings of a native lab running in the lab dir */
  readonly adoptsRunningLab: boolean;
  /** the choice from the resolved settings and this driver's flags (exit 2 on a bad value, nothing started) */
  choose(input: ChoiceInput): C;
  bind(choice: C): Driver;
}
