/** The REPL's line parsing, tables and progress bars (the fleet-level behaviour is test/repl.test.ts). */
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { replCommands } from "./commands/index.ts";
import { parseLine } from "./repl.ts";
import { ReplError } from "./session.ts";
import { formatBytes, formatDuration, progressBar, renderTable } from "./table.ts";

describe("parseLine", () => {
  test("commands split on ; and words on whitespace; quotes group", () => {
    expect(parseLine("pg.show 3;  node.list ;;")).toEqual([["pg.show", "3"], ["node.list"]]);
    expect(parseLine(`actor.stop "bucket/my bucket/0" --apply; user.add 'a;b'`)).toEqual([
      ["actor.stop", "bucket/my bucket/0", "--apply"],
      ["user.add", "a;b"],
    ]);
    expect(parseLine("   ")).toEqual([]);
  });

  test("an unclosed quote and too many commands are refused", () => {
    expect(() => parseLine(`user.add "alice`)).toThrow(ReplError);
    expect(() => parseLine(Array.from({ length: 65 }, () => "node.list").join(";"))).toThrow(ReplError);
  });
});

describe("tables and bars", () => {
  test("columns pad to the widest cell; number columns align right", () => {
    expect(renderTable(["PG", "STATE"], [[1, "clean"], [10, "healing"]])).toBe("PG  STATE\n 1  clean\n10  healing");
  });

  test("progress bar, durations and bytes", () => {
    expect(progressBar(1, 4, 8)).toBe("[##------]  25%");
    expect(progressBar(0, 0, 4)).toBe("[####] 100%");
    expect(formatDuration(undefined)).toBe("unknown");
    expect(formatDuration(65_000)).toBe("1m05s");
    expect(formatDuration(3_720_000)).toBe("1h02m");
    expect(formatBytes(1536)).toBe("1.5 KiB");
  });
});

describe("commands", () => {
  test("one per noun.verb name; every mutating one says so in its usage", () => {
    const names = replCommands.map((command) => command.name);
    expect(new Set(names).size).toBe(names.length);
    for (const command of replCommands) {
      expect(command.name).toMatch(/^[a-z]+\.[a-z]+$/);
      expect(command.usage.startsWith(command.name)).toBe(true);
      expect(command.help.length).toBeGreaterThan(40);
      if (command.mutates) expect(command.usage).toContain("--apply");
    }
    // One file per command, named after it.
    const files = readdirSync(join(import.meta.dir, "commands")).filter((file) => file !== "index.ts" && !file.endsWith(".test.ts"));
    expect(files.map((file) => file.replace(/\.ts$/, "")).sort()).toEqual([...names].sort());
  });
});
