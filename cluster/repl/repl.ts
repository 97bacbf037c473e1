/**
 * `cairn repl`: the operator's shell over a running fleet.
 *
 * A line holds one or more commands separated by `;`. A command is a
 * `noun.verb` from commands/ with its arguments; `--apply` lets a command
 * that changes the fleet run (it is refused without), `--json` prints the
 * JSON form. Built in: `help [COMMAND]`, `watch COMMAND …` (interactive:
 * reruns it every second until a key is pressed), `exit`.
 *
 * Interactive sessions have tab completion (command names, then each
 * command's own candidates: PG ids, actors, disks, nodes, users) and a
 * history file (`~/.cairn_history`, or `CAIRN_HISTORY`), kept to the last
 * `historyLinesMax` lines.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import type { Fleet } from "../fleet/fleet-file.ts";
import type { FleetMap } from "../membership/index.ts";
import type { CommandOutput, ReplCommand } from "./command.ts";
import { replCommands } from "./commands/index.ts";
import { openReplSession, ReplError, type ReplSession } from "./session.ts";
import { renderTable } from "./table.ts";

/** History lines kept in the file and in memory. */
export const historyLinesMax = 1_000;
/** `watch` refresh period. */
const watchPeriodMs = 1_000;
/** Most commands one line (or one `--exec`) may hold. */
const commandsPerLineMax = 64;

const builtins = ["help", "watch", "exit", "quit"];

export interface ReplOptions {
  readonly fleet: Fleet;
  /** Node id or host:port of the node to reach first. */
  readonly target: string | undefined;
  /** Run these commands and exit instead of reading the terminal. */
  readonly exec: string | undefined;
  /** Print the JSON form of every answer. */
  readonly json: boolean;
  readonly input?: NodeJS.ReadableStream;
  readonly output?: NodeJS.WritableStream;
}

/** Runs the REPL; resolves to the process exit code (0 done, 1 a command failed, 2 bad usage). */
export async function runRepl(options: ReplOptions): Promise<number> {
  const output = options.output ?? process.stdout;
  const write = (text: string): void => void output.write(text.endsWith("\n") ? text : `${text}\n`);
  let session: ReplSession;
  try {
    session = await openReplSession(options.fleet, options.target);
  } catch (error) {
    if (error instanceof ReplError || error instanceof Error) {
      process.stderr.write(`cairn repl: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  try {
    if (options.exec !== undefined) return await runExec(session, options.exec, options.json, write);
    await runInteractive(session, options, write);
    return 0;
  } finally {
    await session.close();
  }
}

/** One parsed command of a line. */
interface Invocation {
  readonly name: string;
  readonly args: string[];
  readonly apply: boolean;
  readonly json: boolean;
}

/** Splits a line into commands (`;`) and words (whitespace; single or double quotes group). */
export function parseLine(line: string): string[][] {
  const commands: string[][] = [[]];
  let word: string | undefined;
  let quote: string | undefined;
  for (const character of line) {
    if (quote !== undefined) {
      if (character === quote) quote = undefined;
      else word = (word ?? "") + character;
    } else if (character === "'" || character === '"') {
      quote = character;
      word ??= "";
    } else if (character === ";" || /\s/.test(character)) {
      if (word !== undefined) commands[commands.length - 1]!.push(word);
      word = undefined;
      if (character === ";") commands.push([]);
    } else {
      word = (word ?? "") + character;
    }
  }
  if (quote !== undefined) throw new ReplError(`unclosed ${quote} quote`);
  if (word !== undefined) commands[commands.length - 1]!.push(word);
  const nonEmpty = commands.filter((words) => words.length > 0);
  if (nonEmpty.length > commandsPerLineMax) throw new ReplError(`at most ${commandsPerLineMax} commands at once`);
  return nonEmpty;
}

function invocationOf(words: readonly string[]): Invocation {
  const [name, ...rest] = words;
  return {
    name: name!,
    args: rest.filter((word) => word !== "--apply" && word !== "--json"),
    apply: rest.includes("--apply"),
    json: rest.includes("--json"),
  };
}

function commandNamed(name: string): ReplCommand | undefined {
  return replCommands.find((command) => command.name === name);
}

/** Runs one command (not a builtin): its output, or a `ReplError`. */
async function runCommand(session: ReplSession, invocation: Invocation): Promise<CommandOutput> {
  const command = commandNamed(invocation.name);
  if (command === undefined) throw new ReplError(`unknown command ${invocation.name} (help lists them)`);
  if (command.mutates && !invocation.apply) {
    throw new ReplError(`${command.name} changes the fleet; it runs only with --apply (usage: ${command.usage})`);
  }
  return command.run(session, invocation.args);
}

function helpText(name: string | undefined): string {
  if (name === undefined) {
    return [
      renderTable(
        ["COMMAND", "", "WHAT IT DOES"],
        replCommands.map((command) => [command.name, command.mutates ? "--apply" : "", command.summary]),
      ),
      "",
      "help COMMAND     what a command shows or does, and how",
      "watch COMMAND    rerun it every second until a key is pressed (interactive only)",
      "CMD; CMD         several commands in one line; --json prints an answer as JSON",
      "exit             leave (or Ctrl-D)",
    ].join("\n");
  }
  const command = commandNamed(name);
  if (command === undefined) throw new ReplError(`unknown command ${name} (help lists them)`);
  return [`usage: ${command.usage}${command.mutates && !command.usage.includes("--apply") ? " --apply" : ""}`, "", command.summary, "", command.help, command.mutates ? "\nChanges the fleet: refused without --apply." : "\nRead-only."].join("\n");
}

async function runExec(session: ReplSession, script: string, json: boolean, write: (text: string) => void): Promise<number> {
  let lines: string[][];
  try {
    lines = parseLine(script);
  } catch (error) {
    process.stderr.write(`cairn repl: ${(error as Error).message}\n`);
    return 2;
  }
  let exitCode = 0;
  for (const words of lines) {
    const invocation = invocationOf(words);
    try {
      if (invocation.name === "help") write(helpText(invocation.args[0]));
      else if (invocation.name === "watch") throw new ReplError("watch needs a terminal; call the command again from your script instead");
      else if (invocation.name === "exit" || invocation.name === "quit") break;
      else {
        const result = await runCommand(session, invocation);
        write(json || invocation.json ? JSON.stringify(result.json) : result.text);
      }
    } catch (error) {
      if (!(error instanceof ReplError)) throw error;
      process.stderr.write(`error: ${error.message}\n`);
      exitCode = 1;
    }
  }
  return exitCode;
}

function historyPath(): string {
  return process.env.CAIRN_HISTORY ?? join(homedir(), ".cairn_history");
}

/** The history file's lines, oldest first, at most `historyLinesMax`. */
function readHistory(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .slice(-historyLinesMax);
}

async function runInteractive(session: ReplSession, options: ReplOptions, write: (text: string) => void): Promise<void> {
  const input: NodeJS.ReadableStream = options.input ?? process.stdin;
  const path = historyPath();
  const history = readHistory(path);
  // Keep the file bounded: rewrite it once per session, append after that.
  if (history.length >= historyLinesMax) writeFileSync(path, `${history.join("\n")}\n`, { mode: 0o600 });
  const completer = (line: string, callback: (error: null, result: [string[], string]) => void): void => {
    const map = session.lastMap();
    if (map !== undefined) {
      callback(null, complete(map, line));
      return;
    }
    void session.map().then(
      (fresh) => callback(null, complete(fresh, line)),
      () => callback(null, [[], line]),
    );
  };
  // Read the map once up front, so the first Tab completes without a round trip.
  await session.map().catch(() => undefined);
  const readline: Interface = createInterface({
    input,
    output: options.output ?? process.stdout,
    completer,
    terminal: true,
    history: [...history].reverse(),
    historySize: historyLinesMax,
    prompt: `cairn ${session.entryNodeId}> `,
  });
  write(`connected to ${options.fleet.name} through ${session.entryNodeId}; help lists the commands, Tab completes, Ctrl-D leaves`);
  readline.prompt();
  let watching: (() => void) | undefined;
  // A key pressed during `watch` stops it; readline still gets the key, so the line is cleared after.
  input.on("data", () => watching?.());
  // Ctrl-C drops the line being typed, as in a shell; Ctrl-D (or exit) leaves.
  readline.on("SIGINT", () => {
    if (watching !== undefined) return watching();
    readline.write(null, { ctrl: true, name: "u" });
    write("^C");
    readline.prompt();
  });
  for await (const line of readline) {
    if (line.trim().length > 0) appendFileSync(path, `${line}\n`, { mode: 0o600 });
    let commands: string[][];
    try {
      commands = parseLine(line);
    } catch (error) {
      write(`error: ${(error as Error).message}`);
      readline.prompt();
      continue;
    }
    let leave = false;
    for (const words of commands) {
      const invocation = invocationOf(words);
      try {
        if (invocation.name === "exit" || invocation.name === "quit") {
          leave = true;
          break;
        }
        if (invocation.name === "help") write(helpText(invocation.args[0]));
        else if (invocation.name === "watch") {
          if (words.length < 2) throw new ReplError("usage: watch COMMAND [ARGS]");
          const inner = invocationOf(words.slice(1));
          const command = commandNamed(inner.name);
          if (command === undefined) throw new ReplError(`unknown command ${inner.name} (help lists them)`);
          if (command.mutates) throw new ReplError(`watch reruns read-only commands only; ${command.name} changes the fleet`);
          await watch(session, inner, write, (stop) => {
            watching = stop;
          });
          watching = undefined;
          readline.write(null, { ctrl: true, name: "u" });
        } else {
          const result = await runCommand(session, invocation);
          write(invocation.json ? JSON.stringify(result.json, null, 2) : result.text);
        }
      } catch (error) {
        if (!(error instanceof ReplError)) throw error;
        write(`error: ${error.message}`);
      }
    }
    if (leave) break;
    readline.prompt();
  }
  readline.close();
}

/** Reruns `invocation` every `watchPeriodMs`, clearing the screen, until `onStop`'s callback fires (a key). */
async function watch(session: ReplSession, invocation: Invocation, write: (text: string) => void, onStop: (stop: () => void) => void): Promise<void> {
  let stopped = false;
  let wake: () => void = () => undefined;
  onStop(() => {
    stopped = true;
    wake();
  });
  while (!stopped) {
    let text: string;
    try {
      const result = await runCommand(session, invocation);
      text = invocation.json ? JSON.stringify(result.json, null, 2) : result.text;
    } catch (error) {
      if (!(error instanceof ReplError)) throw error;
      text = `error: ${error.message}`;
    }
    if (stopped) break;
    write(`\x1b[2J\x1b[H${invocation.name} ${invocation.args.join(" ")}  (every ${watchPeriodMs / 1000} s; press a key to stop)\n\n${text}`);
    await Promise.race([session.clock.sleep(watchPeriodMs), new Promise<void>((resolve) => (wake = resolve))]);
  }
}

/** Candidates for the word under the cursor. */
function complete(map: FleetMap, line: string): [string[], string] {
  const segment = line.slice(line.lastIndexOf(";") + 1).trimStart();
  let words = segment.split(/\s+/);
  const watched = words[0] === "watch" && words.length > 1;
  if (watched) words = words.slice(1);
  const current = words[words.length - 1] ?? "";
  const before = words.slice(0, -1);
  if (before.length === 0) {
    const names = [...(watched ? [] : builtins), ...replCommands.map((command) => command.name)];
    return [names.filter((name) => name.startsWith(current)), current];
  }
  const commandName = before[0]!;
  if (commandName === "help") return [replCommands.map((command) => command.name).filter((name) => name.startsWith(current)), current];
  const command = commandNamed(commandName);
  if (command === undefined) return [[], current];
  const positionalIndex = before.slice(1).filter((word) => !word.startsWith("--")).length;
  const candidates = [...(command.complete?.(map, positionalIndex) ?? []), ...(command.mutates ? ["--apply"] : []), "--json"];
  return [candidates.filter((candidate) => candidate.startsWith(current)), current];
}
