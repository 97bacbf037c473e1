/**
 * The HTTP `Range` header as S3 reads it: a single byte range. Anything S3
 * would not honour (multiple ranges, another unit, bad syntax) yields the
 * whole object, because that is what S3 does.
 */

export type RangeResult =
  | { readonly kind: "whole" }
  | { readonly kind: "partial"; readonly startBytes: number; readonly endBytesInclusive: number }
  | { readonly kind: "unsatisfiable" };

const single = /^bytes=(\d*)-(\d*)$/;

/** Resolves a `Range` header against an object of `sizeBytes`. */
export function parseRange(header: string | undefined, sizeBytes: number): RangeResult {
  if (header === undefined) return { kind: "whole" };
  const match = single.exec(header.trim());
  if (match === null) return { kind: "whole" };
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return { kind: "whole" };
  if (first === "") {
    // A suffix range: the last `n` bytes.
    const suffixBytes = Number(last);
    if (suffixBytes === 0 || sizeBytes === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", startBytes: Math.max(0, sizeBytes - suffixBytes), endBytesInclusive: sizeBytes - 1 };
  }
  const startBytes = Number(first);
  if (last !== "" && Number(last) < startBytes) return { kind: "whole" };
  if (startBytes >= sizeBytes) return { kind: "unsatisfiable" };
  const endBytesInclusive = last === "" ? sizeBytes - 1 : Math.min(Number(last), sizeBytes - 1);
  return { kind: "partial", startBytes, endBytesInclusive };
}
