/**
 * TEST-ONLY: a strict parser of the Prometheus text format 0.0.4, written
 * from the format's description rather than from our writer, so tests can
 * read a real scrape and fail on anything Prometheus would reject or
 * misread: a sample outside its family's block, a TYPE after samples, a
 * second HELP/TYPE, bad names, bad escapes, a missing final newline,
 * histogram buckets that are not cumulative or disagree with `_count`.
 */

export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedFamily {
  readonly name: string;
  help: string | undefined;
  type: string;
  readonly samples: ParsedSample[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const types = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Parses a scrape; throws an Error naming the line on anything malformed. */
export function parseExposition(text: string): Map<string, ParsedFamily> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the last line does not end with a line feed");
  const families = new Map<string, ParsedFamily>();
  const closed = new Set<string>();
  let current: ParsedFamily | undefined;
  const open = (name: string, lineNumber: number): ParsedFamily => {
    if (current?.name === name) return current;
    if (current !== undefined) closed.add(current.name);
    if (closed.has(name) || families.has(name)) throw new Error(`line ${lineNumber}: family ${name} appears in two blocks`);
    current = { name, help: undefined, type: "untyped", samples: [] };
    families.set(name, current);
    return current;
  };
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((line, index) => {
    const lineNumber = index + 1;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (match === null) return; // a plain comment
      const [, keyword, name, rest = ""] = match;
      if (!metricName.test(name!) || metricName.exec(name!)![0] !== name) throw new Error(`line ${lineNumber}: bad metric name ${name}`);
      const family = open(name!, lineNumber);
      if (keyword === "HELP") {
        if (family.help !== undefined) throw new Error(`line ${lineNumber}: second HELP for ${name}`);
        family.help = unescape(rest, false, lineNumber);
      } else {
        if (family.samples.length > 0) throw new Error(`line ${lineNumber}: TYPE for ${name} after its samples`);
        if (!types.has(rest.trim())) throw new Error(`line ${lineNumber}: unknown type ${rest}`);
        family.type = rest.trim();
      }
      return;
    }
    const sample = parseSampleLine(line, lineNumber);
    const familyName = familyOf(sample.name, current);
    const family = open(familyName, lineNumber);
    family.samples.push(sample);
  });
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none, throws when several. */
export function sampleValue(families: Map<string, ParsedFamily>, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const matches = [...families.values()]
    .flatMap((family) => family.samples)
    .filter((sample) => sample.name === name && Object.entries(labels).every(([label, value]) => sample.labels[label] === value));
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}

/** Samples of a histogram's `_bucket`, `_sum`, `_count` belong to the open histogram family. */
function familyOf(sampleName: string, current: ParsedFamily | undefined): string {
  if (current !== undefined && current.type === "histogram") {
    for (const suffix of ["_bucket", "_sum", "_count"]) if (sampleName === `${current.name}${suffix}`) return current.name;
  }
  return sampleName;
}

function parseSampleLine(line: string, lineNumber: number): ParsedSample {
  const nameMatch = metricName.exec(line);
  if (nameMatch === null) throw new Error(`line ${lineNumber}: no metric name in ${JSON.stringify(line)}`);
  const name = nameMatch[0];
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith("{")) {
    rest = rest.slice(1);
    for (;;) {
      rest = rest.trimStart();
      if (rest.startsWith("}")) {
        rest = rest.slice(1);
        break;
      }
      const label = labelName.exec(rest);
      if (label === null) throw new Error(`line ${lineNumber}: bad label name in ${JSON.stringify(line)}`);
      rest = rest.slice(label[0].length);
      if (!rest.startsWith('="')) throw new Error(`line ${lineNumber}: expected =" after ${label[0]}`);
      rest = rest.slice(2);
      let raw = "";
      for (;;) {
        const char = rest[0];
        if (char === undefined) throw new Error(`line ${lineNumber}: unterminated label value`);
        if (char === '"') break;
        if (char === "\\") {
          raw += rest.slice(0, 2);
          rest = rest.slice(2);
        } else {
          raw += char;
          rest = rest.slice(1);
        }
      }
      rest = rest.slice(1);
      if (label[0] in labels) throw new Error(`line ${lineNumber}: label ${label[0]} repeats`);
      labels[label[0]] = unescape(raw, true, lineNumber);
      rest = rest.trimStart();
      if (rest.startsWith(",")) rest = rest.slice(1);
      else if (!rest.startsWith("}")) throw new Error(`line ${lineNumber}: expected , or } in ${JSON.stringify(line)}`);
    }
  }
  const fields = rest.trim().split(/[ \t]+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === "") throw new Error(`line ${lineNumber}: expected a value (and an optional timestamp) in ${JSON.stringify(line)}`);
  return { name, labels, value: parseValue(fields[0]!, lineNumber) };
}

function parseValue(text: string, lineNumber: number): number {
  if (text === "+Inf" || text === "Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`line ${lineNumber}: bad value ${text}`);
  return Number(text);
}

function unescape(raw: string, quoted: boolean, lineNumber: number): string {
  let out = "";
  for (let index = 0; index < raw.length; index += 1) {
    const char = raw[index]!;
    if (char !== "\\") {
      out += char;
      continue;
    }
    const next = raw[index + 1];
    index += 1;
    if (next === "\\") out += "\\";
    else if (next === "n") out += "\n";
    else if (next === '"' && quoted) out += '"';
    else throw new Error(`line ${lineNumber}: bad escape \\${next ?? ""}`);
  }
  return out;
}

function checkHistogram(family: ParsedFamily): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (sample.name.endsWith("_bucket")) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      entry.buckets.push([parseValue(le, 0), sample.value]);
    } else if (sample.name.endsWith("_count")) entry.count = sample.value;
    else if (sample.name.endsWith("_sum")) entry.sum = sample.value;
  }
  for (const [key, entry] of series) {
    const last = entry.buckets.at(-1);
    if (last === undefined || last[0] !== Number.POSITIVE_INFINITY) throw new Error(`${family.name}${key}: no le="+Inf" bucket last`);
    for (let index = 1; index < entry.buckets.length; index += 1) {
      if (!(entry.buckets[index]![0] > entry.buckets[index - 1]![0])) throw new Error(`${family.name}${key}: bucket bounds do not ascend`);
      if (entry.buckets[index]![1] < entry.buckets[index - 1]![1]) throw new Error(`${family.name}${key}: buckets are not cumulative`);
    }
    if (entry.count !== last[1]) throw new Error(`${family.name}${key}: _count ${entry.count} is not the +Inf bucket ${last[1]}`);
    if (entry.sum === undefined) throw new Error(`${family.name}${key}: no _sum`);
  }
}
