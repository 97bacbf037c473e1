/**
 * SigV4 timestamps: `YYYYMMDDTHHMMSSZ` (ISO 8601 basic format, UTC).
 * Time comes in as `nowMs` from the caller; nothing here reads the clock.
 */

const amzDatePattern = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Formats epoch milliseconds as `YYYYMMDDTHHMMSSZ` (whole seconds, truncated). */
export function formatAmzDate(epochMs: number): string {
  // toISOString gives `YYYY-MM-DDTHH:MM:SS.mmmZ`; drop the separators and the milliseconds.
  const iso = new Date(epochMs).toISOString();
  return iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + "T" + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + "Z";
}

/**
 * Parses `YYYYMMDDTHHMMSSZ` to epoch milliseconds; undefined when malformed or
 * not a real calendar time (month 13, 31 February, …).
 */
export function parseAmzDate(text: string): number | undefined {
  const match = amzDatePattern.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const epochMs = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls over out-of-range fields; a round trip catches that.
  if (!Number.isFinite(epochMs) || formatAmzDate(epochMs) !== text) return undefined;
  return epochMs;
}

/**
 * Parses an HTTP `Date` header (IMF-fixdate, e.g. `Fri, 24 May 2013 00:00:00 GMT`)
 * to epoch milliseconds; SigV4 accepts it when `x-amz-date` is absent.
 */
export function parseHttpDate(text: string): number | undefined {
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text.trim())) return undefined;
  const epochMs = Date.parse(text);
  return Number.isFinite(epochMs) ? epochMs : undefined;
}
