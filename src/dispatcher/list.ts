/**
 * Kamailio's dispatcher.list file (pure): one destination per line,
 *   setid(int) destination(sip uri) flags(int,opt) priority(int,opt) attrs(str,opt)
 * Lines whose first non-blank character is `#` are comments; blank lines are allowed.
 * Like Kamailio (dispatch.c ds_load_list), a `#` after the URI, flags or priority starts a comment,
 * and anything after the attrs token is ignored.
 *
 * parse keeps every line's text, so render(parse(text)) === text for any file Kamailio accepts;
 * entries made in code render in the canonical form `setid uri flags priority[ attrs]`.
 */
import { parseSipUri } from "../sip/sip-uri.js";

export interface DispatcherEntry {
  setId: number;
  uri: string;
  /** bitmask: 1 inactive, 2 trying, 4 disabled, 8 probing, 16 skip DNS, 32 no ping */
  flags: number;
  priority: number;
  /** name1=value1;...;nameN=valueN, or undefined */
  attrs: string | undefined;
}

export type ListLine =
  | { kind: "entry"; entry: DispatcherEntry; text: string | undefined }
  | { kind: "comment"; text: string }
  | { kind: "blank"; text: string };

export interface DispatcherList {
  lines: ListLine[];
  /** true when the source ended with a newline (kept for byte-exact round trips) */
  finalNewline: boolean;
}

export interface ListProblem {
  line: number;
  text: string;
  error: string;
}

export class DispatcherListError extends Error {
  constructor(
    readonly problems: readonly ListProblem[],
    readonly source: string,
  ) {
    super(
      `${source}: ${problems.length} invalid line${problems.length === 1 ? "" : "s"}: ` +
        problems.map((p) => `line ${p.line}: ${p.error}`).join("; "),
    );
    this.name = "DispatcherListError";
  }
}

/** Kamailio reads lines with fgets into a 1024-byte buffer; longer lines would be split. */
export const MAX_LINE_BYTES = 1000;

/** Parse one non-comment line the way Kamailio's ds_load_list scans it; returns the entry or an error. */
export function parseEntryLine(line: string): { entry: DispatcherEntry } | { error: string } {
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) return { error: `line is longer than ${MAX_LINE_BYTES} bytes` };
  let i = 0;
  const isWs = (c: string | undefined): boolean => c === " " || c === "\t" || c === "\r";
  const skipWs = (): void => {
    while (isWs(line[i])) i++;
  };
  const atEnd = (): boolean => i >= line.length || line[i] === "#";
  /** a token ends at whitespace, or also at `#` when `hashEnds` */
  const token = (hashEnds: boolean): string => {
    const start = i;
    while (i < line.length && !isWs(line[i]) && !(hashEnds && line[i] === "#")) i++;
    return line.slice(start, i);
  };
  const int = (name: string, tok: string): number | { error: string } =>
    /^\d{1,9}$/.test(tok) ? Number(tok) : { error: `${name} ${JSON.stringify(tok)} is not a non-negative integer` };

  skipWs();
  const setId = int("set id", token(true));
  if (typeof setId !== "number") return setId;
  skipWs();
  if (atEnd()) return { error: "destination URI is missing" };
  const uri = token(true);
  const parsed = parseSipUri(uri);
  if (!parsed.ok) return { error: parsed.error };
  const entry: DispatcherEntry = { setId, uri, flags: 0, priority: 0, attrs: undefined };
  skipWs();
  if (atEnd()) return { entry };
  const flagsTok = token(true);
  // the module docs allow hexadecimal flags in the file (e.g. 0x8)
  const flags = /^0x[0-9a-f]{1,8}$/i.test(flagsTok) ? parseInt(flagsTok.slice(2), 16) : int("flags", flagsTok);
  if (typeof flags !== "number") return flags;
  entry.flags = flags;
  skipWs();
  if (atEnd()) return { entry };
  const priority = int("priority", token(true));
  if (typeof priority !== "number") return priority;
  entry.priority = priority;
  skipWs();
  if (atEnd()) return { entry };
  const attrs = token(false);
  if (!/^[^=;]+(=[^;]*)?(;[^=;]+(=[^;]*)?)*;?$/.test(attrs)) {
    return { error: `attrs ${JSON.stringify(attrs)} are not name=value;... pairs` };
  }
  entry.attrs = attrs;
  return { entry };
}

/** Parse a dispatcher.list text. Throws DispatcherListError naming every bad line. */
export function parseDispatcherList(text: string, source = "dispatcher.list"): DispatcherList {
  const finalNewline = text.endsWith("\n");
  const raw = text === "" ? [] : (finalNewline ? text.slice(0, -1) : text).split("\n");
  const lines: ListLine[] = [];
  const problems: ListProblem[] = [];
  raw.forEach((lineText, i) => {
    const t = lineText.trim();
    if (t === "") lines.push({ kind: "blank", text: lineText });
    else if (t.startsWith("#")) lines.push({ kind: "comment", text: lineText });
    else {
      const r = parseEntryLine(lineText);
      if ("error" in r) problems.push({ line: i + 1, text: lineText, error: r.error });
      else lines.push({ kind: "entry", entry: r.entry, text: lineText });
    }
  });
  if (problems.length > 0) throw new DispatcherListError(problems, source);
  return { lines, finalNewline };
}

/** The canonical line for an entry: `setid uri flags priority[ attrs]`. */
export function renderEntry(e: DispatcherEntry): string {
  return [String(e.setId), e.uri, String(e.flags), String(e.priority), ...(e.attrs ? [e.attrs] : [])].join(" ");
}

/** Render a list. Parsed lines keep their original text; entries made in code are canonical. */
export function renderDispatcherList(list: DispatcherList): string {
  const body = list.lines.map((l) => (l.kind === "entry" ? (l.text ?? renderEntry(l.entry)) : l.text)).join("\n");
  return list.lines.length === 0 ? "" : body + (list.finalNewline ? "\n" : "");
}

export function entriesOf(list: DispatcherList): DispatcherEntry[] {
  return list.lines.flatMap((l) => (l.kind === "entry" ? [l.entry] : []));
}

/** A list's entries only, each rendered one way (comments, blank lines and spacing go): what a table holds of it. */
export function entriesText(text: string): string {
  return entriesOf(parseDispatcherList(text))
    .map((e) => `${renderEntry(e)}\n`)
    .join("");
}

/** A list made in code: header comments, then the entries in order. */
export function makeList(comments: readonly string[], entries: readonly DispatcherEntry[]): DispatcherList {
  for (const e of entries) {
    const line = renderEntry(e);
    const r = parseEntryLine(line);
    if ("error" in r) throw new DispatcherListError([{ line: 0, text: line, error: r.error }], "profile");
  }
  return {
    lines: [
      ...comments.map((c): ListLine => ({ kind: "comment", text: `# ${c}` })),
      ...entries.map((entry): ListLine => ({ kind: "entry", entry: { ...entry }, text: undefined })),
    ],
    finalNewline: true,
  };
}
