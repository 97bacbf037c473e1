import { describe, expect, test } from "bun:test";
import { parsedConfiguration } from "./cors-response.ts";

const document = (origin: string): string =>
  `<CORSConfiguration><CORSRule><AllowedOrigin>${origin}</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`;

describe("parsed configuration memo", () => {
  test("equal texts share one parse; a changed text is parsed anew; old entries are evicted, not wrong", () => {
    const first = parsedConfiguration(document("https://a.example"));
    // A fresh string of the same text (the backend returns a new one per read).
    expect(parsedConfiguration((" " + document("https://a.example")).slice(1))).toBe(first);
    const changed = parsedConfiguration(document("https://b.example"));
    expect(changed).not.toBe(first);
    expect(changed.rules[0]!.allowedOrigins).toEqual(["https://b.example"]);
    // Far more distinct documents than the memo keeps: each still parses to its own rules.
    for (let index = 0; index < 600; index += 1) {
      expect(parsedConfiguration(document(`https://${index}.example`)).rules[0]!.allowedOrigins).toEqual([`https://${index}.example`]);
    }
    expect(parsedConfiguration(document("https://a.example")).rules[0]!.allowedOrigins).toEqual(["https://a.example"]);
  });
});
