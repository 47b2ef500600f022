import type { EventEmitter } from "node:events";
import type { Command, Help, Option } from "commander";

/** Where the generated reference lives, relative to the project root. */
export const CLI_REFERENCE_PATH = "docs/reference/cli.md";

/** How to regenerate it (printed when the checked-in copy is stale). */
export const CLI_REFERENCE_COMMAND = "npm run -s build && node dist/scripts/gen-cli-reference.js";

/** An option shared by at least this many commands is listed once, in the shared section. */
const SHARED_BY = 3;

interface OptionRow {
  term: string;
  description: string;
}

interface CommandDoc {
  path: string;
  command: Command;
  own: OptionRow[];
  shared: OptionRow[];
}

/** Table cells: no line breaks, pipes escaped, no raw HTML (`<dir>` stays text). */
function cell(text: string): string {
  return text
    .replace(/\s*\n\s*/g, " ")
    .replace(/\|/g, "\\|")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

function code(text: string): string {
  return text.includes("`") ? "`` " + text + " ``" : "`" + text + "`";
}

/** GitHub's heading anchor for a heading that is one code span. */
function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, "")
    .replace(/ /g, "-");
}

function optionRows(help: Help, cmd: Command): OptionRow[] {
  return help
    .visibleOptions(cmd)
    .filter((o: Option) => o.long !== "--help" && o.long !== "--version")
    .map((o: Option) => ({ term: help.optionTerm(o), description: help.optionDescription(o) }));
}

/** The text a command adds after its generated help (`addHelpText("after", ...)`). */
function afterHelpText(cmd: Command): string {
  let text = "";
  // commander's Command is an EventEmitter at runtime; addHelpText("after") listens for "afterHelp"
  (cmd as unknown as EventEmitter).emit("afterHelp", { error: false, command: cmd, write: (s: string) => (text += s) });
  return text.trim();
}

function walk(cmd: Command, prefix: string, out: { path: string; command: Command }[]): void {
  for (const sub of cmd.commands) {
    const path = `${prefix} ${sub.name()}`;
    out.push({ path, command: sub });
    walk(sub, path, out);
  }
}

function optionsTable(rows: OptionRow[]): string[] {
  return [
    "| option | meaning |",
    "| --- | --- |",
    ...rows.map((r) => `| ${code(r.term).replace(/\|/g, "\\|")} | ${cell(r.description)} |`),
  ];
}

/**
 * The CLI reference in Markdown, from the program's own command definitions: every command and
 * subcommand with its description, usage, arguments and options (with their defaults), as `--help`
 * prints them. Options that several commands take alike are listed once, grouped by the commands
 * that take them. Pure: the same program gives the same text.
 */
export function cliReference(program: Command): string {
  const help = program.createHelp();
  const all: { path: string; command: Command }[] = [];
  walk(program, program.name(), all);

  const key = (r: OptionRow): string => `${r.term}\u0000${r.description}`;
  const takers = new Map<string, { row: OptionRow; paths: string[] }>();
  for (const { path, command } of all) {
    for (const row of optionRows(help, command)) {
      const entry = takers.get(key(row)) ?? { row, paths: [] };
      entry.paths.push(path);
      takers.set(key(row), entry);
    }
  }
  const isShared = (r: OptionRow): boolean => (takers.get(key(r))?.paths.length ?? 0) >= SHARED_BY;

  const docs: CommandDoc[] = all.map(({ path, command }) => {
    const rows = optionRows(help, command);
    return { path, command, own: rows.filter((r) => !isShared(r)), shared: rows.filter(isShared) };
  });

  // shared options grouped by the exact set of commands that take them, in first-seen order
  const groups = new Map<string, { paths: string[]; rows: OptionRow[] }>();
  for (const { row, paths } of takers.values()) {
    if (paths.length < SHARED_BY) continue;
    const g = groups.get(paths.join("\n")) ?? { paths, rows: [] };
    g.rows.push(row);
    groups.set(paths.join("\n"), g);
  }

  const lines: string[] = [
    "# CLI reference",
    "",
    "<!-- Generated from the commander definitions in src/cli/ by scripts/gen-cli-reference.ts; do not edit. -->",
    "",
    `Generated from the program's own command definitions, so it says what \`${program.name()} --help\` and`,
    `\`${program.name()} <command> --help\` say. \`make test\` fails when this file differs from what the`,
    `definitions give; regenerate it with \`${CLI_REFERENCE_COMMAND}\`.`,
    "",
    help.commandDescription(program),
    "",
    "## Commands",
    "",
    "| command | does |",
    "| --- | --- |",
    ...docs.map((d) => `| [${code(d.path)}](#${anchor(d.path)}) | ${cell(help.subcommandDescription(d.command))} |`),
    "",
    "## Exit codes",
    "",
    "```text",
    afterHelpText(program),
    "```",
    "",
  ];

  for (const d of docs) {
    const cmd = d.command;
    const depth = d.path.split(" ").length - 1;
    lines.push(`${"#".repeat(Math.min(depth + 1, 4))} ${code(d.path)}`, "");
    lines.push(help.commandDescription(cmd), "");
    lines.push("```text", help.commandUsage(cmd), "```", "");
    const args = help.visibleArguments(cmd);
    if (args.length > 0) {
      lines.push("| argument | meaning |", "| --- | --- |");
      for (const a of args) lines.push(`| ${code(help.argumentTerm(a))} | ${cell(help.argumentDescription(a))} |`);
      lines.push("");
    }
    const subs = help.visibleCommands(cmd).filter((c) => c.name() !== "help");
    if (subs.length > 0) {
      lines.push(
        `Subcommands: ${subs.map((c) => `[${code(c.name())}](#${anchor(`${d.path} ${c.name()}`)})`).join(", ")}.`,
        "",
      );
    }
    if (d.own.length > 0) lines.push(...optionsTable(d.own), "");
    if (d.shared.length > 0) {
      lines.push(
        `Also the [shared options](#shared-options): ${d.shared.map((r) => code(r.term.split(/[ ,]/)[0] ?? r.term)).join(", ")}.`,
        "",
      );
    }
    const after = afterHelpText(cmd);
    if (after !== "") lines.push("```text", after, "```", "");
  }

  lines.push("## Shared options", "");
  lines.push(
    `Options that at least ${SHARED_BY} commands take with the same meaning, grouped by the commands that take them.`,
  );
  lines.push("");
  for (const g of groups.values()) {
    lines.push(`Taken by ${g.paths.map((p) => code(p)).join(", ")}:`, "");
    lines.push(...optionsTable(g.rows), "");
  }
  return lines.join("\n").replace(/\n+$/, "\n");
}
