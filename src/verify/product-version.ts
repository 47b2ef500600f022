/**
 * Product and version from what the components say about themselves: SIP Server/User-Agent
 * headers, `freeswitch -version`, the event socket's `version`, FusionPBX's software.php,
 * Kamailio's `core.version`. Pure functions; nothing is ever guessed.
 */

export interface ProductVersion {
  /** "FreeSWITCH", "Kamailio", "SIPp stand-in", or the header's first token */
  product: string;
  /** dotted numeric version (e.g. "1.10.12"); undefined when the text names none */
  version: string | undefined;
  /** the full build string when it says more than the version (e.g. "1.10.12-release~a88d069d6f~64bit") */
  build: string | undefined;
  /** the lab's SIPp stand-in: not a PBX, so no PBX version */
  standIn: boolean;
}

const DOTTED = /^(\d+(?:\.\d+)+)/;

function splitBuild(s: string): { version: string | undefined; build: string | undefined } {
  const m = DOTTED.exec(s);
  if (!m) return { version: undefined, build: undefined };
  const build = s.replace(/[\s.]+$/, "");
  return { version: m[1], build: build !== m[1] ? build : undefined };
}

/**
 * A SIP Server or User-Agent header, e.g.
 *   FreeSWITCH-mod_sofia/1.10.12-release~a88d069d6f~64bit
 *   kamailio (5.6.3 (x86_64/linux))
 *   SIPp stand-in (pbx-cutover lab old backend; not a PBX)
 */
export function parseServerHeader(raw: string): ProductVersion {
  const text = raw.trim();
  if (/^SIPp stand-in\b/i.test(text)) {
    return { product: "SIPp stand-in", version: undefined, build: undefined, standIn: true };
  }
  const fs = /^FreeSWITCH(?:-mod_sofia)?\/(\S*)/i.exec(text);
  if (fs) return { product: "FreeSWITCH", ...splitBuild(fs[1]!), standIn: false };
  const kam = /^kamailio\s*\(\s*(\d+(?:\.\d+)+)/i.exec(text);
  if (kam) return { product: "Kamailio", version: kam[1], build: undefined, standIn: false };
  // generic: "Product/1.2.3 ...", "Product Name 1.2.3": the product is everything before the first dotted number
  const gen = /^(.*?[^\s/])[\s/]+v?(\d+(?:\.\d+)+\S*)/.exec(text);
  if (gen) return { product: gen[1]!, ...splitBuild(gen[2]!), standIn: false };
  const first = text.split(/[\s/]/)[0] ?? text;
  return { product: first || "unknown", version: undefined, build: undefined, standIn: false };
}

/**
 * FreeSWITCH's own version text, in any of the forms it prints:
 *   `freeswitch -version`       FreeSWITCH version: 1.10.12-release~64bit (-release 64bit)
 *   event socket `api version`  FreeSWITCH Version 1.10.10-release+git~20230813T165739Z~d506bc6c3c~64bit (git d506bc6 2023-08-13 16:57:39Z 64bit)
 *   `fs_cli -x "version short"` 1.10.12
 */
export function parseFreeswitchVersion(text: string): ProductVersion | undefined {
  const long = /FreeSWITCH\s+version:?\s+(\S+)/i.exec(text);
  if (long) {
    const v = splitBuild(long[1]!);
    if (v.version) return { product: "FreeSWITCH", ...v, standIn: false };
  }
  const short = /^\s*(\d+(?:\.\d+)+)\s*$/.exec(text);
  if (short) return { product: "FreeSWITCH", version: short[1], build: undefined, standIn: false };
  return undefined;
}

/**
 * FusionPBX's core/software/resources/classes/software.php:
 *   public static function version() { return '5.3.3'; }
 * (newer code may use a class constant VERSION = '...').
 */
export function parseSoftwarePhp(php: string): ProductVersion | undefined {
  const fn = /function\s+version\s*\(\s*\)\s*\{\s*return\s+(['"])([^'"]+)\1/.exec(php);
  const konst = /const\s+VERSION\s*=\s*(['"])([^'"]+)\1/.exec(php);
  const raw = fn?.[2] ?? konst?.[2];
  if (raw === undefined) return undefined;
  const v = splitBuild(raw.trim());
  if (!v.version) return undefined;
  return { product: "FusionPBX", ...v, standIn: false };
}

/** Kamailio's `core.version` RPC result, e.g. "kamailio 5.6.3 (x86_64/linux)". */
export function parseKamailioVersion(text: string): ProductVersion | undefined {
  const m = /kamailio\s+(\d+(?:\.\d+)+)(\S*)/i.exec(text);
  if (!m) return undefined;
  return { product: "Kamailio", version: m[1], build: m[2] ? `${m[1]}${m[2]}` : undefined, standIn: false };
}
