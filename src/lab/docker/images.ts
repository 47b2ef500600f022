import { createHash } from "node:crypto";
import type { BackendRole } from "../../core/backend-role.js";

/**
 * The images the Docker lab runs, as data (pure). Two image sets:
 * - `local` (the default): built here by the project from a Debian bookworm base made with
 *   debootstrap + `docker import`; no registry needed. Tagged pbx-cutover/<name>:<version>.
 * - `seed`: the seed's pulled images (kamailio/kamailio-ci, safarov/freeswitch:1.10.3 / :1.10.12),
 *   for machines that can reach Docker Hub.
 * Each local image carries the hash of its inputs (Dockerfile text and every context file) as the
 * label INPUTS_LABEL; an image whose label matches is reused, anything else is rebuilt.
 */

export type ImageSet = "local" | "seed";

export const IMAGE_SETS: readonly ImageSet[] = ["local", "seed"];

/** The setting that picks the image set (also `--docker-images`). */
export const IMAGE_SET_ENV = "PBX_CUTOVER_DOCKER_IMAGES";

export const INPUTS_LABEL = "org.pbx-cutover.inputs";

export const BASE_IMAGE = "pbx-cutover/debian:bookworm";

/** How the base is made when absent (its inputs hash is this text). */
export const BASE_RECIPE = "debootstrap --variant=minbase bookworm http://deb.debian.org/debian; docker import";

export const LOCAL_IMAGES = {
  kamailio: "pbx-cutover/kamailio:5.6.3",
  freeswitchOld: "pbx-cutover/freeswitch:1.10.3",
  freeswitchNew: "pbx-cutover/freeswitch:1.10.12",
  sipp: "pbx-cutover/sipp:3.6.1",
  fusionpbxOld: "pbx-cutover/fusionpbx:5.3.0",
  fusionpbxNew: "pbx-cutover/fusionpbx:5.5.7",
  postgresql: "pbx-cutover/postgresql:15",
} as const;

export const SEED_IMAGES = {
  kamailio: "kamailio/kamailio-ci:latest",
  freeswitchOld: "safarov/freeswitch:1.10.3",
  freeswitchNew: "safarov/freeswitch:1.10.12",
} as const;

/** Where the FreeSWITCH tree lives inside its image (relocatable: RUNPATH $ORIGIN/../lib). */
export const FREESWITCH_TREE_IN_IMAGE = "/opt/freeswitch";

/** Kamailio's module directory per image set (Debian's multiarch path vs the Alpine image's). */
export function kamailioModulePath(set: ImageSet): string {
  return set === "local" ? "/usr/lib/x86_64-linux-gnu/kamailio/modules/" : "/usr/lib/kamailio/modules/";
}

/** A context entry: a file written from text, or a host file/directory copied in. */
export type ContextEntry = { dest: string; text: string } | { dest: string; hostPath: string };

export interface ImageSpec {
  tag: string;
  /** what it is, for messages */
  what: string;
  dockerfile: string;
  context: ContextEntry[];
}

const APT = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends";
const APT_CLEAN = "rm -rf /var/lib/apt/lists/*";

/** FreeSWITCH's runtime libraries on Debian 12 (../shared/REAL-SERVICES.md), for both versions. */
export const FREESWITCH_RUNTIME_PACKAGES = [
  "libc6",
  "libgcc-s1",
  "libstdc++6",
  "zlib1g",
  "libssl3",
  "libcurl4",
  "libpcre3",
  "libsqlite3-0",
  "libspeex1",
  "libspeexdsp1",
  "libedit2",
  "libuuid1",
  "libfreetype6",
  "libsndfile1",
  "libtiff6",
  "libjpeg62-turbo",
  "openssl",
] as const;

function dockerfile(lines: string[]): string {
  return (
    [
      "# written by pbx-cutover (src/lab/docker/images.ts); built with `lab up --driver docker`",
      `FROM ${BASE_IMAGE}`,
      ...lines,
    ].join("\n") + "\n"
  );
}

export function kamailioImage(): ImageSpec {
  return {
    tag: LOCAL_IMAGES.kamailio,
    what: "Kamailio 5.6.3 (Debian bookworm's kamailio package)",
    dockerfile: dockerfile([
      `RUN ${APT} kamailio && ${APT_CLEAN} && kamailio -v | head -1`,
      // the same entrypoint as kamailio/kamailio-ci, so the compose file's command works with either
      'ENTRYPOINT ["kamailio", "-DD", "-E"]',
    ]),
    context: [],
  };
}

export function sippImage(): ImageSpec {
  return {
    tag: LOCAL_IMAGES.sipp,
    what: "SIPp 3.6.1 (Debian bookworm's sip-tester)",
    dockerfile: dockerfile([
      `RUN ${APT} sip-tester && ${APT_CLEAN} && (sipp -v || true) | grep -q 'v3.6.1'`,
      'ENTRYPOINT ["sipp"]',
    ]),
    context: [],
  };
}

/** FreeSWITCH from the native real-services lab's prebuilt tree (bin/ lib/ mod/), plus its runtime libraries. */
export function freeswitchImage(role: BackendRole, version: string, treeDir: string): ImageSpec {
  return {
    tag: role === "old" ? LOCAL_IMAGES.freeswitchOld : LOCAL_IMAGES.freeswitchNew,
    what: `FreeSWITCH ${version} (the real-services tree ${treeDir})`,
    dockerfile: dockerfile([
      `RUN ${APT} ${FREESWITCH_RUNTIME_PACKAGES.join(" ")} && ${APT_CLEAN}`,
      `COPY tree/ ${FREESWITCH_TREE_IN_IMAGE}/`,
      // fails the build when a library is missing or the tree is not the version asked for
      `RUN ${FREESWITCH_TREE_IN_IMAGE}/bin/freeswitch -version | grep -F 'version: ${version}-'`,
      `ENTRYPOINT ["${FREESWITCH_TREE_IN_IMAGE}/bin/freeswitch"]`,
    ]),
    context: [{ dest: "tree", hostPath: treeDir }],
  };
}

/** Debian's PHP 8.2 with what FusionPBX needs (../shared/REAL-SERVICES.md). */
export const FUSIONPBX_PHP_PACKAGES = [
  "php-cli",
  "php-pgsql",
  "php-xml",
  "php-curl",
  "php-mbstring",
  "ca-certificates",
] as const;

/** Where FusionPBX lives in its image: the path 5.5.7 hard-codes (its config: /etc/fusionpbx). */
export const FUSIONPBX_ROOT_IN_IMAGE = "/var/www/fusionpbx";

/**
 * FusionPBX from the real-services tree (the same sources the native lab serves), on Debian's PHP,
 * served by PHP's built-in web server on port 8080. The tag 5.3.0's software.php says 5.3.3: the build
 * checks the version the code reports, `reports`.
 */
export function fusionpbxImage(role: BackendRole, tag: string, reports: string, treeDir: string): ImageSpec {
  return {
    tag: role === "old" ? LOCAL_IMAGES.fusionpbxOld : LOCAL_IMAGES.fusionpbxNew,
    what: `FusionPBX ${tag} (software.php: ${reports}; the real-services tree ${treeDir}) on Debian's PHP`,
    dockerfile: dockerfile([
      `RUN ${APT} ${FUSIONPBX_PHP_PACKAGES.join(" ")} && ${APT_CLEAN} && mkdir -p /etc/fusionpbx`,
      `COPY tree/ ${FUSIONPBX_ROOT_IN_IMAGE}/`,
      `RUN grep -q "'${reports}'" ${FUSIONPBX_ROOT_IN_IMAGE}/core/software/resources/classes/software.php && chown -R www-data:www-data ${FUSIONPBX_ROOT_IN_IMAGE} /etc/fusionpbx`,
      `WORKDIR ${FUSIONPBX_ROOT_IN_IMAGE}`,
      "USER www-data",
      "EXPOSE 8080",
      `ENTRYPOINT ["php", "-S", "0.0.0.0:8080", "-t", "${FUSIONPBX_ROOT_IN_IMAGE}"]`,
    ]),
    context: [{ dest: "tree", hostPath: treeDir }],
  };
}

/**
 * Debian's PostgreSQL 15, one per FusionPBX: a data directory made on first start (initdb), the
 * database and user `fusionpbx` with the password from FUSIONPBX_DB_PASSWORD, reachable from the lab
 * network only (pg_hba: 172.28.0.0/24, scram-sha-256).
 */
export const POSTGRES_START = `#!/bin/sh
# written by pbx-cutover (src/lab/docker/images.ts): Debian's PostgreSQL 15 for one FusionPBX
set -eu
bin=/usr/lib/postgresql/15/bin
data=/var/lib/postgresql/data
pw="\${FUSIONPBX_DB_PASSWORD:?FUSIONPBX_DB_PASSWORD is not set}"
case "$pw" in *[!A-Za-z0-9._-]*) echo "pg-start: FUSIONPBX_DB_PASSWORD may only use A-Z a-z 0-9 . _ -" >&2; exit 2;; esac
mkdir -p "$data" /run/postgresql
chown postgres:postgres "$data" /run/postgresql
if [ ! -s "$data/PG_VERSION" ]; then
  runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  echo "host all all 172.28.0.0/24 scram-sha-256" >> "$data/pg_hba.conf"
  runuser -u postgres -- "$bin/postgres" -D "$data" -c listen_addresses= -k /run/postgresql &
  until runuser -u postgres -- "$bin/pg_isready" -q -h /run/postgresql; do sleep 0.2; done
  runuser -u postgres -- psql -q -h /run/postgresql -v ON_ERROR_STOP=1 -c "CREATE ROLE fusionpbx LOGIN PASSWORD '$pw'" -c "CREATE DATABASE fusionpbx OWNER fusionpbx"
  runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
fi
exec runuser -u postgres -- "$bin/postgres" -D "$data" -c listen_addresses=* -k /run/postgresql
`;

export function postgresImage(): ImageSpec {
  return {
    tag: LOCAL_IMAGES.postgresql,
    what: "PostgreSQL 15 (Debian bookworm's postgresql-15)",
    dockerfile: dockerfile([
      `RUN ${APT} postgresql-15 && ${APT_CLEAN}`,
      "COPY pg-start.sh /usr/local/bin/pg-start.sh",
      "RUN chmod 755 /usr/local/bin/pg-start.sh",
      'ENTRYPOINT ["/usr/local/bin/pg-start.sh"]',
    ]),
    context: [{ dest: "pg-start.sh", text: POSTGRES_START }],
  };
}

/**
 * The inputs hash (pure): the Dockerfile, the base recipe and every context file as (path, mode,
 * bytes) in a stable order. `files` lists the context as the builder read it.
 */
export function inputsHash(
  spec: Pick<ImageSpec, "dockerfile">,
  files: readonly { path: string; mode: number; bytes: Buffer }[],
): string {
  const h = createHash("sha256");
  h.update(`base ${BASE_IMAGE} ${BASE_RECIPE}\n`);
  h.update(`dockerfile ${spec.dockerfile.length}\n${spec.dockerfile}\n`);
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    h.update(`file ${f.path} ${(f.mode & 0o777).toString(8)} ${f.bytes.length}\n`);
    h.update(f.bytes);
  }
  return h.digest("hex").slice(0, 32);
}

export function parseImageSet(value: string | undefined, from: string): ImageSet | undefined {
  if (value === undefined || value === "") return undefined;
  if (value === "local" || value === "seed") return value;
  throw new Error(`${from} must be local or seed, got ${JSON.stringify(value)}`);
}
