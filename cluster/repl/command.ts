/**
 * What one REPL command is: a file under `commands/` named `noun.verb.ts`
 * exports one `ReplCommand`. A command that changes the fleet says so
 * (`mutates`) and the runner refuses it without `--apply`.
 */
import type { FleetMap } from "../membership/index.ts";
import type { ReplSession } from "./session.ts";
import { ReplError } from "./session.ts";

/** What a command prints: a text form (tables) and a JSON form (`--json`). */
export interface CommandOutput {
  readonly text: string;
  readonly json: unknown;
}

export interface ReplCommand {
  /** `noun.verb`, the file's name. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** `pg.show PG`: the arguments, `[…]` for optional ones. */
  readonly usage: string;
  /** What it shows or does, and how (where the answer comes from). */
  readonly help: string;
  /** True when it changes the fleet: refused without `--apply`. */
  readonly mutates: boolean;
  /** Candidates for positional argument `index` (tab completion), from the session's latest map: no round trip, so a fast double Tab finds the answer ready. */
  complete?(map: FleetMap, index: number): readonly string[];
  run(session: ReplSession, args: readonly string[]): Promise<CommandOutput>;
}

/** Splits `args` into positionals and `--name value` options named in `valued` (other `--x` are refused). */
export function parseArguments(
  command: ReplCommand,
  args: readonly string[],
  valued: readonly string[] = [],
): { positional: string[]; options: Map<string, string> } {
  const positional: string[] = [];
  const options = new Map<string, string>();
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const name = arg.slice(2);
    if (!valued.includes(name)) throw new ReplError(`${command.name}: unknown option ${arg} (usage: ${command.usage})`);
    const value = args[index + 1];
    if (value === undefined) throw new ReplError(`${command.name}: ${arg} needs a value (usage: ${command.usage})`);
    options.set(name, value);
    index += 1;
  }
  return { positional, options };
}

/** Refuses a call with a positional count outside [min, max]. */
export function expectPositionals(command: ReplCommand, positional: readonly string[], min: number, max: number): void {
  if (positional.length < min || positional.length > max) throw new ReplError(`${command.name}: usage: ${command.usage}`);
}
