/** The multipart operations' parsing: part numbers, upload checksum settings, the completion document. */
import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import type { OperationContext } from "./context.ts";
import { parseCompleteDocument, partNumberParameter, uploadChecksumFrom, uploadIdParameter } from "./multipart.ts";

function contextWith(query: Record<string, string>): OperationContext {
  return { query: new Map(Object.entries(query)) } as unknown as OperationContext;
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof S3Error) return error.code;
    throw error;
  }
  return "no error";
}

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("multipart parameters", () => {
  test("partNumber is an integer from 1 to 10,000", () => {
    expect(partNumberParameter(contextWith({ partNumber: "1" }))).toBe(1);
    expect(partNumberParameter(contextWith({ partNumber: "10000" }))).toBe(10_000);
    for (const bad of ["0", "10001", "-1", "1.5", "", "abc", "0x10", "99999999999"]) {
      expect(codeOf(() => partNumberParameter(contextWith({ partNumber: bad })))).toBe("InvalidArgument");
    }
    expect(codeOf(() => partNumberParameter(contextWith({})))).toBe("InvalidArgument");
  });

  test("an empty or absurdly long uploadId is NoSuchUpload", () => {
    expect(uploadIdParameter(contextWith({ uploadId: "abc" }))).toBe("abc");
    expect(codeOf(() => uploadIdParameter(contextWith({ uploadId: "" })))).toBe("NoSuchUpload");
    expect(codeOf(() => uploadIdParameter(contextWith({ uploadId: "x".repeat(257) })))).toBe("NoSuchUpload");
  });

  test("checksum algorithm and type follow S3's pairing rules", () => {
    expect(uploadChecksumFrom(new Map())).toEqual({});
    expect(uploadChecksumFrom(new Map([["x-amz-checksum-algorithm", "crc32"]]))).toEqual({ algorithm: "CRC32", type: "COMPOSITE" });
    expect(uploadChecksumFrom(new Map([["x-amz-checksum-algorithm", "SHA256"], ["x-amz-checksum-type", "COMPOSITE"]]))).toEqual({ algorithm: "SHA256", type: "COMPOSITE" });
    expect(codeOf(() => uploadChecksumFrom(new Map([["x-amz-checksum-algorithm", "MD5"]])))).toBe("InvalidRequest");
    expect(codeOf(() => uploadChecksumFrom(new Map([["x-amz-checksum-type", "COMPOSITE"]])))).toBe("InvalidRequest");
    expect(codeOf(() => uploadChecksumFrom(new Map([["x-amz-checksum-algorithm", "SHA1"], ["x-amz-checksum-type", "FULL_OBJECT"]])))).toBe("InvalidRequest");
    expect(codeOf(() => uploadChecksumFrom(new Map([["x-amz-checksum-algorithm", "CRC64NVME"], ["x-amz-checksum-type", "COMPOSITE"]])))).toBe("InvalidRequest");
    // A CRC's FULL_OBJECT value is the parts' CRCs combined (crc-combine.ts); CRC64NVME is FULL_OBJECT by default.
    expect(uploadChecksumFrom(new Map([["x-amz-checksum-algorithm", "CRC32"], ["x-amz-checksum-type", "FULL_OBJECT"]]))).toEqual({ algorithm: "CRC32", type: "FULL_OBJECT" });
    expect(uploadChecksumFrom(new Map([["x-amz-checksum-algorithm", "CRC64NVME"]]))).toEqual({ algorithm: "CRC64NVME", type: "FULL_OBJECT" });
  });
});

describe("the CompleteMultipartUpload document", () => {
  test("parts with quoted or bare ETags and an optional checksum", () => {
    const parts = parseCompleteDocument(
      encode(
        `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
           <Part><PartNumber>1</PartNumber><ETag>"aa"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
           <Part><ETag>bb</ETag><PartNumber>3</PartNumber></Part>
         </CompleteMultipartUpload>`,
      ),
    );
    expect(parts).toEqual([
      { partNumber: 1, etag: "aa", checksum: "AAAAAA==" },
      { partNumber: 3, etag: "bb" },
    ]);
  });

  test("malformed documents are MalformedXML or InvalidArgument", () => {
    expect(codeOf(() => parseCompleteDocument(encode("<CompleteMultipartUpload></CompleteMultipartUpload>")))).toBe("MalformedXML");
    expect(codeOf(() => parseCompleteDocument(encode("<Other><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Other>")))).toBe("MalformedXML");
    expect(codeOf(() => parseCompleteDocument(encode("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>")))).toBe("MalformedXML");
    expect(codeOf(() => parseCompleteDocument(encode("<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>")))).toBe("InvalidArgument");
    expect(codeOf(() => parseCompleteDocument(new Uint8Array([0xff, 0xfe])))).toBe("MalformedXML");
  });
});
