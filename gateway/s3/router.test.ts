import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import { isPreflight, routeRequest, type OperationName, type Route } from "./router.ts";

function route(method: string, bucket: string, key: string, query: Record<string, string> = {}, headers: Record<string, string> = {}): Route {
  return routeRequest({ method, bucket, key, query: new Map(Object.entries(query)), headers: new Map(Object.entries(headers)) });
}

function operation(result: Route): string {
  if (result.kind === "refused") return "refused";
  return result.kind === "operation" ? result.name : result.kind === "not-implemented" ? `501:${result.operation}` : "405";
}

describe("routeRequest", () => {
  test("service, bucket and object operations", () => {
    expect(operation(route("GET", "", ""))).toBe("ListBuckets");
    expect(operation(route("GET", "", "", { "x-id": "ListBuckets" }))).toBe("ListBuckets");
    expect(operation(route("PUT", "b", ""))).toBe("CreateBucket");
    expect(operation(route("HEAD", "b", ""))).toBe("HeadBucket");
    expect(operation(route("DELETE", "b", ""))).toBe("DeleteBucket");
    expect(operation(route("GET", "b", "", { location: "" }))).toBe("GetBucketLocation");
    expect(operation(route("GET", "b", ""))).toBe("ListObjects");
    expect(operation(route("GET", "b", "", { prefix: "a", marker: "m", "max-keys": "5" }))).toBe("ListObjects");
    expect(operation(route("GET", "b", "", { "list-type": "2", "continuation-token": "x", "fetch-owner": "true" }))).toBe("ListObjectsV2");
    expect(operation(route("POST", "b", "", { delete: "" }))).toBe("DeleteObjects");
    expect(operation(route("PUT", "b", "k"))).toBe("PutObject");
    expect(operation(route("GET", "b", "k", { "response-content-type": "text/plain" }))).toBe("GetObject");
    expect(operation(route("HEAD", "b", "k"))).toBe("HeadObject");
    expect(operation(route("DELETE", "b", "k"))).toBe("DeleteObject");
  });

  test("versioning operations and versionId on object operations", () => {
    expect(operation(route("GET", "b", "", { versioning: "" }))).toBe("GetBucketVersioning");
    expect(operation(route("PUT", "b", "", { versioning: "" }))).toBe("PutBucketVersioning");
    expect(operation(route("GET", "b", "", { versions: "", prefix: "p", delimiter: "/", "key-marker": "k", "version-id-marker": "v", "max-keys": "2", "encoding-type": "url" }))).toBe(
      "ListObjectVersions",
    );
    expect(operation(route("GET", "b", "k", { versionId: "v" }))).toBe("GetObject");
    expect(operation(route("HEAD", "b", "k", { versionId: "v" }))).toBe("HeadObject");
    expect(operation(route("DELETE", "b", "k", { versionId: "v" }))).toBe("DeleteObject");
    // A version of a sub-resource is still the sub-resource's operation, not a plain GET.
    expect(operation(route("GET", "b", "k", { versionId: "v", tagging: "" }))).toBe("GetObjectTagging");
    expect(operation(route("GET", "b", "k", { versionId: "v", acl: "" }))).toBe("GetObjectAcl");
    expect(operation(route("PUT", "b", "k", { versionId: "v" }))).toBe("501:PutObject");
    expect(operation(route("GET", "b", "", { versions: "", marker: "m" }))).toBe("501:ListObjectVersions");
    expect(operation(route("DELETE", "b", "", { versioning: "" }))).toBe("405");
    expect(operation(route("PUT", "b", "", { versions: "" }))).toBe("405");
  });

  test("signature query parameters are accepted everywhere", () => {
    const presign = { "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "c", "X-Amz-Date": "d", "X-Amz-Expires": "60", "X-Amz-SignedHeaders": "host", "X-Amz-Signature": "s" };
    expect(operation(route("GET", "b", "k", presign))).toBe("GetObject");
    expect(operation(route("PUT", "b", "k", presign))).toBe("PutObject");
  });

  test("configuration sub-resources of a bucket", () => {
    expect(operation(route("GET", "b", "", { tagging: "" }))).toBe("GetBucketTagging");
    expect(operation(route("GET", "b", "", { uploads: "", prefix: "p", "key-marker": "k", "upload-id-marker": "u", "max-uploads": "3" }))).toBe("ListMultipartUploads");
    expect(operation(route("PUT", "b", "", { policy: "" }))).toBe("PutBucketPolicy");
    expect(operation(route("DELETE", "b", "", { cors: "" }))).toBe("DeleteBucketCors");
    expect(operation(route("GET", "b", "", { policyStatus: "" }))).toBe("GetBucketPolicyStatus");
    expect(operation(route("PUT", "b", "", { policyStatus: "" }))).toBe("501:PutBucketPolicyStatus");
    expect(operation(route("GET", "b", "", { tagging: "", foo: "1" }))).toBe("501:GetBucketTagging");
  });

  test("unimplemented bucket sub-resources are 501, named as AWS names them", () => {
    expect(operation(route("DELETE", "b", "", { acl: "" }))).toBe("501:DeleteBucketAcl");
    expect(operation(route("PUT", "b", "", { lifecycle: "" }))).toBe("501:PutBucketLifecycleConfiguration");
    expect(operation(route("POST", "b", ""))).toBe("501:PostObject");
  });

  test("multipart steps, copies and tagging of an object", () => {
    expect(operation(route("POST", "b", "k", { uploads: "" }))).toBe("CreateMultipartUpload");
    expect(operation(route("GET", "b", "k", { uploads: "" }))).toBe("405");
    expect(operation(route("PUT", "b", "k", { uploadId: "u", partNumber: "1" }))).toBe("UploadPart");
    expect(operation(route("PUT", "b", "k", { uploadId: "u", partNumber: "1" }, { "x-amz-copy-source": "/a/b" }))).toBe("UploadPartCopy");
    expect(operation(route("POST", "b", "k", { uploadId: "u" }))).toBe("CompleteMultipartUpload");
    expect(operation(route("DELETE", "b", "k", { uploadId: "u" }))).toBe("AbortMultipartUpload");
    expect(operation(route("GET", "b", "k", { uploadId: "u", "max-parts": "2", "part-number-marker": "1" }))).toBe("ListParts");
    expect(operation(route("GET", "b", "k", { uploadId: "u", foo: "1" }))).toBe("501:ListParts");
    expect(operation(route("GET", "b", "k", { tagging: "" }))).toBe("GetObjectTagging");
    expect(operation(route("PUT", "b", "k", { tagging: "", versionId: "v" }))).toBe("PutObjectTagging");
    expect(operation(route("DELETE", "b", "k", { tagging: "" }))).toBe("DeleteObjectTagging");
    expect(operation(route("PUT", "b", "k", {}, { "x-amz-copy-source": "/a/b" }))).toBe("CopyObject");
  });

  test("unimplemented object operations are 501", () => {
    expect(operation(route("DELETE", "b", "k", { acl: "" }))).toBe("501:DeleteObjectAcl");
    // partNumber reads one part on a GET or HEAD; no other method has it without an uploadId.
    expect(operation(route("GET", "b", "k", { partNumber: "1" }))).toBe("GetObject");
    expect(operation(route("HEAD", "b", "k", { partNumber: "2", versionId: "v" }))).toBe("HeadObject");
    expect(operation(route("PUT", "b", "k", { partNumber: "1" }))).toBe("501:PutObjectPart");
    expect(operation(route("POST", "b", "k", { restore: "" }))).toBe("501:PostRestoreObject");
    expect(operation(route("POST", "b", "k"))).toBe("501:PostObject");
  });

  test("headers that ask for unimplemented behaviour are 501", () => {
    expect(operation(route("PUT", "b", "k", {}, { "x-amz-tagging": "a=b" }))).toBe("PutObject");
    // A preflight never reaches routeRequest: the handler answers it before authentication.
    expect(isPreflight({ method: "OPTIONS", bucket: "b" })).toBe(true);
    expect(isPreflight({ method: "OPTIONS", bucket: "" })).toBe(false);
    expect(isPreflight({ method: "GET", bucket: "b" })).toBe(false);
    expect(operation(route("PUT", "b", "k", {}, { "x-amz-server-side-encryption": "AES256" }))).toBe("501:PutObject");
    // A write's If-None-Match takes only "*" (conditional writes); S3 knows no other value on a PUT.
    expect(operation(route("PUT", "b", "k", {}, { "if-none-match": '"abc"' }))).toBe("501:PutObject");
    expect(operation(route("PUT", "b", "k", {}, { "if-none-match": "*" }))).toBe("PutObject");
    expect(operation(route("PUT", "b", "k", {}, { "if-match": '"abc"' }))).toBe("PutObject");
    expect(operation(route("PUT", "b", "k", {}, { "x-amz-copy-source": "b/j", "if-none-match": "*" }))).toBe("CopyObject");
    expect(operation(route("PUT", "b", "k", {}, { "x-amz-copy-source": "b/j", "x-amz-tagging-directive": "REPLACE", "x-amz-tagging": "a=b" }))).toBe("CopyObject");
    expect(operation(route("PUT", "b", "k", {}, { "x-amz-copy-source": "b/j", "x-amz-website-redirect-location": "/x" }))).toBe("501:CopyObject");
    expect(operation(route("PUT", "b", "", {}, { "x-amz-bucket-object-lock-enabled": "true" }))).toBe("501:CreateBucket");
    expect(operation(route("GET", "b", "k", {}, { "x-amz-server-side-encryption-customer-algorithm": "AES256" }))).toBe("501:GetObject");
  });

  // Every bucket here is BucketOwnerEnforced (ACLs disabled): S3 then accepts the canned ACLs that change nothing and refuses the rest with a 400.
  describe("ACLs, as S3 answers them with ACLs disabled", () => {
    const objectWrites: readonly [string, Record<string, string>, Record<string, string>][] = [
      ["PutObject", {}, {}],
      ["CreateMultipartUpload", { uploads: "" }, {}],
      ["CopyObject", {}, { "x-amz-copy-source": "/b/source" }],
    ];

    test("object writes accept x-amz-acl private and bucket-owner-full-control", () => {
      for (const [name, query, headers] of objectWrites) {
        const method = name === "CreateMultipartUpload" ? "POST" : "PUT";
        expect(operation(route(method, "b", "k", query, { ...headers, "x-amz-acl": "bucket-owner-full-control" }))).toBe(name);
        expect(operation(route(method, "b", "k", query, { ...headers, "x-amz-acl": "private" }))).toBe(name);
        expect(operation(route(method, "b", "k", query, { ...headers, "x-amz-acl": " bucket-owner-full-control " }))).toBe(name);
      }
    });

    test("object writes refuse any other canned ACL and every x-amz-grant-* header with AccessControlListNotSupported", () => {
      for (const [name, query, headers] of objectWrites) {
        const method = name === "CreateMultipartUpload" ? "POST" : "PUT";
        for (const acl of ["public-read", "public-read-write", "authenticated-read", "bucket-owner-read", "aws-exec-read", "log-delivery-write", "PRIVATE", ""]) {
          expect(route(method, "b", "k", query, { ...headers, "x-amz-acl": acl })).toEqual({ kind: "refused", operation: name as OperationName, code: "AccessControlListNotSupported" });
        }
        for (const grant of ["x-amz-grant-read", "x-amz-grant-read-acp", "x-amz-grant-write-acp", "x-amz-grant-full-control"]) {
          const refused = route(method, "b", "k", query, { ...headers, [grant]: 'id="1234"' });
          expect(refused).toEqual({ kind: "refused", operation: name as OperationName, code: "AccessControlListNotSupported" });
          // Even next to an accepted canned ACL.
          expect(operation(route(method, "b", "k", query, { ...headers, "x-amz-acl": "private", [grant]: 'id="1234"' }))).toBe("refused");
        }
      }
    });

    test("CreateBucket accepts only private; anything else is InvalidBucketAclWithObjectOwnership", () => {
      expect(operation(route("PUT", "b", "", {}, { "x-amz-acl": "private" }))).toBe("CreateBucket");
      expect(operation(route("PUT", "b", "", {}, { "x-amz-acl": "private", "x-amz-object-ownership": "BucketOwnerEnforced" }))).toBe("CreateBucket");
      for (const acl of ["public-read", "bucket-owner-full-control", "authenticated-read"]) {
        expect(route("PUT", "b", "", {}, { "x-amz-acl": acl })).toEqual({ kind: "refused", operation: "CreateBucket", code: "InvalidBucketAclWithObjectOwnership" });
      }
      expect(route("PUT", "b", "", {}, { "x-amz-grant-full-control": 'id="1"' })).toEqual({ kind: "refused", operation: "CreateBucket", code: "InvalidBucketAclWithObjectOwnership" });
      // Another ownership setting is not implemented; that is said first, not an ACL clash with an ownership not asked for.
      expect(operation(route("PUT", "b", "", {}, { "x-amz-acl": "public-read", "x-amz-object-ownership": "ObjectWriter" }))).toBe("501:CreateBucket");
    });

    test("other unimplemented headers stay 501 and are named before the ACL", () => {
      expect(operation(route("PUT", "b", "k", {}, { "x-amz-acl": "public-read", "x-amz-server-side-encryption": "AES256" }))).toBe("501:PutObject");
      expect(operation(route("PUT", "b", "k", { foo: "1" }, { "x-amz-acl": "public-read" }))).toBe("501:PutObject");
    });

    test("GetBucketAcl, PutBucketAcl, GetObjectAcl (with versionId), PutObjectAcl are operations; other methods and parameters stay 501", () => {
      expect(operation(route("GET", "b", "", { acl: "" }))).toBe("GetBucketAcl");
      expect(operation(route("PUT", "b", "", { acl: "" }, { "x-amz-acl": "public-read" }))).toBe("PutBucketAcl");
      expect(operation(route("GET", "b", "k", { acl: "" }))).toBe("GetObjectAcl");
      expect(operation(route("GET", "b", "k", { acl: "", versionId: "v" }))).toBe("GetObjectAcl");
      expect(operation(route("PUT", "b", "k", { acl: "" }))).toBe("PutObjectAcl");
      expect(operation(route("PUT", "b", "k", { acl: "", versionId: "v" }, { "x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"' }))).toBe("PutObjectAcl");
      expect(operation(route("GET", "b", "", { acl: "", versionId: "v" }))).toBe("501:GetBucketAcl");
      expect(operation(route("GET", "b", "k", { acl: "", foo: "1" }))).toBe("501:GetObjectAcl");
      expect(operation(route("HEAD", "b", "k", { acl: "" }))).toBe("501:HeadObjectAcl");
      expect(operation(route("POST", "b", "", { acl: "" }))).toBe("501:PostBucketAcl");
      // The SDK's x-id must agree with the route, refused ones too.
      expect(operation(route("GET", "b", "", { acl: "", "x-id": "GetBucketAcl" }))).toBe("GetBucketAcl");
      expect(operation(route("PUT", "b", "k", { "x-id": "PutObjectAcl" }, { "x-amz-acl": "public-read" }))).toBe("501:PutObjectAcl");
    });
  });

  test("unknown query parameters are 501, never ignored", () => {
    expect(operation(route("GET", "b", "k", { foo: "1" }))).toBe("501:GetObject");
    expect(operation(route("GET", "b", "", { "start-after": "a" }))).toBe("501:ListObjects");
    expect(operation(route("GET", "", "", { "max-buckets": "1" }))).toBe("501:ListBuckets");
  });

  test("methods that make no sense on a resource are 405", () => {
    expect(operation(route("PUT", "", ""))).toBe("405");
    expect(operation(route("DELETE", "", ""))).toBe("405");
    expect(operation(route("PATCH", "b", "k"))).toBe("405");
    expect(operation(route("OPTIONS", "b", ""))).toBe("405");
    expect(operation(route("GET", "b", "", { delete: "" }))).toBe("405");
  });

  test("a list-type other than 2 is InvalidArgument", () => {
    expect(() => route("GET", "b", "", { "list-type": "3" })).toThrow(S3Error);
  });
});
