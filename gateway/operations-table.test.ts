/**
 * Keeps the operation table in gateway/README.md honest. For every row it
 * sends the operation's representative request (below: the method, path,
 * query and headers the AWS SDK for JavaScript v3 sends, from its model)
 * through `routeRequest` and through the whole handler over the memory
 * backend, and checks the row's status against both answers:
 *
 * - Implemented / Partial: routed to the operation of that name, and the
 *   handler's answer is not 501.
 * - 501: the router answers not-implemented, or routes to the operation's own
 *   file; either way the handler answers 501 NotImplemented with an S3 XML
 *   error body.
 * - Misrouted: a known bug, kept visible: another operation answers it.
 *
 * It also fails when the installed SDK knows an operation the table lacks,
 * or a row has no representative request here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PutObjectCommand, CreateBucketCommand } from "@aws-sdk/client-s3";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseQuery } from "./s3/addressing.ts";
import { routeRequest, type Route } from "./s3/router.ts";
import { startTestGateway, type TestGateway } from "./testing/test-gateway.ts";

const repositoryRoot = resolve(import.meta.dir, "..");

type Status = "Implemented" | "Partial" | "501" | "Misrouted";

interface TableRow {
  readonly operation: string;
  readonly status: Status;
  readonly notes: string;
}

/** The first table under "## S3 operations" in gateway/README.md. */
function readOperationTable(): TableRow[] {
  const lines = readFileSync(join(import.meta.dir, "README.md"), "utf8").split("\n");
  const heading = lines.indexOf("## S3 operations");
  if (heading < 0) throw new Error("gateway/README.md has no '## S3 operations' section");
  const first = lines.findIndex((line, index) => index > heading && line.startsWith("|"));
  const rows: TableRow[] = [];
  for (let index = first + 2; index < lines.length && lines[index]!.startsWith("|"); index += 1) {
    const cells = lines[index]!.split("|").slice(1, -1).map((cell) => cell.trim());
    const [operation, status, notes] = cells;
    if (operation === undefined || status === undefined || notes === undefined) throw new Error(`malformed table row: ${lines[index]}`);
    if (!["Implemented", "Partial", "501", "Misrouted"].includes(status)) throw new Error(`unknown status '${status}' for ${operation}`);
    rows.push({ operation, status: status as Status, notes });
  }
  return rows;
}

/** The operations the installed AWS SDK for JavaScript v3 has commands for. */
function sdkOperations(): string[] {
  const commands = join(repositoryRoot, "node_modules/@aws-sdk/client-s3/dist-types/commands");
  return readdirSync(commands)
    .filter((name) => name.endsWith("Command.d.ts"))
    .map((name) => name.slice(0, -"Command.d.ts".length));
}

interface RepresentativeRequest {
  readonly method: string;
  /** Path-style, percent-encoded: `/bucket` or `/bucket/key`. */
  readonly path: string;
  readonly query?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

// The bucket exists (created in beforeAll) and holds the key, so an
// implemented operation answers for real rather than with NoSuchBucket.
const b = "/table-bucket";
const k = "/table-bucket/table/key.txt";
const tagging = "<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>";
const copySource = { "x-amz-copy-source": "/table-bucket/table/key.txt" };

/** One request per operation, shaped as the SDK sends it. */
const representativeRequests: Readonly<Record<string, RepresentativeRequest>> = {
  AbortMultipartUpload: { method: "DELETE", path: k, query: "uploadId=table-upload&x-id=AbortMultipartUpload" },
  CompleteMultipartUpload: { method: "POST", path: k, query: "uploadId=table-upload", body: "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"0\"</ETag></Part></CompleteMultipartUpload>" },
  CopyObject: { method: "PUT", path: "/table-bucket/table/copy.txt", query: "x-id=CopyObject", headers: copySource },
  CreateBucket: { method: "PUT", path: "/table-bucket-created" },
  CreateBucketMetadataConfiguration: { method: "POST", path: b, query: "metadataConfiguration", body: "<MetadataConfiguration/>" },
  CreateBucketMetadataTableConfiguration: { method: "POST", path: b, query: "metadataTable", body: "<MetadataTableConfiguration/>" },
  CreateMultipartUpload: { method: "POST", path: k, query: "uploads" },
  CreateSession: { method: "GET", path: b, query: "session" },
  DeleteBucket: { method: "DELETE", path: "/table-bucket-absent" },
  DeleteBucketAnalyticsConfiguration: { method: "DELETE", path: b, query: "analytics&id=report" },
  DeleteBucketCors: { method: "DELETE", path: b, query: "cors" },
  DeleteBucketEncryption: { method: "DELETE", path: b, query: "encryption" },
  DeleteBucketIntelligentTieringConfiguration: { method: "DELETE", path: b, query: "id=tier&intelligent-tiering" },
  DeleteBucketInventoryConfiguration: { method: "DELETE", path: b, query: "id=list&inventory" },
  DeleteBucketLifecycle: { method: "DELETE", path: b, query: "lifecycle" },
  DeleteBucketMetadataConfiguration: { method: "DELETE", path: b, query: "metadataConfiguration" },
  DeleteBucketMetadataTableConfiguration: { method: "DELETE", path: b, query: "metadataTable" },
  DeleteBucketMetricsConfiguration: { method: "DELETE", path: b, query: "id=all&metrics" },
  DeleteBucketOwnershipControls: { method: "DELETE", path: b, query: "ownershipControls" },
  DeleteBucketPolicy: { method: "DELETE", path: b, query: "policy" },
  DeleteBucketReplication: { method: "DELETE", path: b, query: "replication" },
  DeleteBucketTagging: { method: "DELETE", path: b, query: "tagging" },
  DeleteBucketWebsite: { method: "DELETE", path: b, query: "website" },
  DeleteObject: { method: "DELETE", path: k, query: "x-id=DeleteObject" },
  DeleteObjectAnnotation: { method: "DELETE", path: k, query: "annotation" },
  DeleteObjects: { method: "POST", path: b, query: "delete", body: "<Delete><Object><Key>table/key.txt</Key></Object></Delete>" },
  DeleteObjectTagging: { method: "DELETE", path: k, query: "tagging" },
  DeletePublicAccessBlock: { method: "DELETE", path: b, query: "publicAccessBlock" },
  GetBucketAbac: { method: "GET", path: b, query: "abac" },
  GetBucketAccelerateConfiguration: { method: "GET", path: b, query: "accelerate" },
  GetBucketAcl: { method: "GET", path: b, query: "acl" },
  GetBucketAnalyticsConfiguration: { method: "GET", path: b, query: "analytics&id=report&x-id=GetBucketAnalyticsConfiguration" },
  GetBucketCors: { method: "GET", path: b, query: "cors" },
  GetBucketEncryption: { method: "GET", path: b, query: "encryption" },
  GetBucketIntelligentTieringConfiguration: { method: "GET", path: b, query: "id=tier&intelligent-tiering&x-id=GetBucketIntelligentTieringConfiguration" },
  GetBucketInventoryConfiguration: { method: "GET", path: b, query: "id=list&inventory&x-id=GetBucketInventoryConfiguration" },
  GetBucketLifecycle: { method: "GET", path: b, query: "lifecycle" },
  GetBucketLifecycleConfiguration: { method: "GET", path: b, query: "lifecycle" },
  GetBucketLocation: { method: "GET", path: b, query: "location" },
  GetBucketLogging: { method: "GET", path: b, query: "logging" },
  GetBucketMetadataConfiguration: { method: "GET", path: b, query: "metadataConfiguration" },
  GetBucketMetadataTableConfiguration: { method: "GET", path: b, query: "metadataTable" },
  GetBucketMetricsConfiguration: { method: "GET", path: b, query: "id=all&metrics&x-id=GetBucketMetricsConfiguration" },
  GetBucketNotification: { method: "GET", path: b, query: "notification" },
  GetBucketNotificationConfiguration: { method: "GET", path: b, query: "notification" },
  GetBucketOwnershipControls: { method: "GET", path: b, query: "ownershipControls" },
  GetBucketPolicy: { method: "GET", path: b, query: "policy" },
  GetBucketPolicyStatus: { method: "GET", path: b, query: "policyStatus" },
  GetBucketReplication: { method: "GET", path: b, query: "replication" },
  GetBucketRequestPayment: { method: "GET", path: b, query: "requestPayment" },
  GetBucketTagging: { method: "GET", path: b, query: "tagging" },
  GetBucketVersioning: { method: "GET", path: b, query: "versioning" },
  GetBucketWebsite: { method: "GET", path: b, query: "website" },
  GetObject: { method: "GET", path: k, query: "x-id=GetObject" },
  GetObjectAcl: { method: "GET", path: k, query: "acl" },
  GetObjectAnnotation: { method: "GET", path: k, query: "annotation&x-id=GetObjectAnnotation" },
  GetObjectAttributes: { method: "GET", path: k, query: "attributes", headers: { "x-amz-object-attributes": "ETag" } },
  GetObjectLegalHold: { method: "GET", path: k, query: "legal-hold" },
  GetObjectLockConfiguration: { method: "GET", path: b, query: "object-lock" },
  GetObjectRetention: { method: "GET", path: k, query: "retention" },
  GetObjectTagging: { method: "GET", path: k, query: "tagging" },
  GetObjectTorrent: { method: "GET", path: k, query: "torrent" },
  GetPublicAccessBlock: { method: "GET", path: b, query: "publicAccessBlock" },
  HeadBucket: { method: "HEAD", path: b },
  HeadObject: { method: "HEAD", path: k },
  ListBucketAnalyticsConfigurations: { method: "GET", path: b, query: "analytics&x-id=ListBucketAnalyticsConfigurations" },
  ListBucketIntelligentTieringConfigurations: { method: "GET", path: b, query: "intelligent-tiering&x-id=ListBucketIntelligentTieringConfigurations" },
  ListBucketInventoryConfigurations: { method: "GET", path: b, query: "inventory&x-id=ListBucketInventoryConfigurations" },
  ListBucketMetricsConfigurations: { method: "GET", path: b, query: "metrics&x-id=ListBucketMetricsConfigurations" },
  ListBuckets: { method: "GET", path: "/", query: "x-id=ListBuckets" },
  ListDirectoryBuckets: { method: "GET", path: "/", query: "x-id=ListDirectoryBuckets" },
  ListMultipartUploads: { method: "GET", path: b, query: "uploads" },
  ListObjectAnnotations: { method: "GET", path: k, query: "annotation&x-id=ListObjectAnnotations" },
  ListObjects: { method: "GET", path: b },
  ListObjectsV2: { method: "GET", path: b, query: "list-type=2" },
  ListObjectVersions: { method: "GET", path: b, query: "versions" },
  ListParts: { method: "GET", path: k, query: "uploadId=table-upload&x-id=ListParts" },
  PutBucketAbac: { method: "PUT", path: b, query: "abac", body: "<AbacStatus><Status>Enabled</Status></AbacStatus>" },
  PutBucketAccelerateConfiguration: { method: "PUT", path: b, query: "accelerate", body: "<AccelerateConfiguration><Status>Enabled</Status></AccelerateConfiguration>" },
  PutBucketAcl: { method: "PUT", path: b, query: "acl", headers: { "x-amz-acl": "private" } },
  PutBucketAnalyticsConfiguration: { method: "PUT", path: b, query: "analytics&id=report", body: "<AnalyticsConfiguration/>" },
  PutBucketCors: { method: "PUT", path: b, query: "cors", body: "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>" },
  PutBucketEncryption: { method: "PUT", path: b, query: "encryption", body: "<ServerSideEncryptionConfiguration/>" },
  PutBucketIntelligentTieringConfiguration: { method: "PUT", path: b, query: "id=tier&intelligent-tiering", body: "<IntelligentTieringConfiguration/>" },
  PutBucketInventoryConfiguration: { method: "PUT", path: b, query: "id=list&inventory", body: "<InventoryConfiguration/>" },
  PutBucketLifecycle: { method: "PUT", path: b, query: "lifecycle", body: "<LifecycleConfiguration/>" },
  PutBucketLifecycleConfiguration: { method: "PUT", path: b, query: "lifecycle", body: "<LifecycleConfiguration/>" },
  PutBucketLogging: { method: "PUT", path: b, query: "logging", body: "<BucketLoggingStatus/>" },
  PutBucketMetricsConfiguration: { method: "PUT", path: b, query: "id=all&metrics", body: "<MetricsConfiguration/>" },
  PutBucketNotification: { method: "PUT", path: b, query: "notification", body: "<NotificationConfiguration/>" },
  PutBucketNotificationConfiguration: { method: "PUT", path: b, query: "notification", body: "<NotificationConfiguration/>" },
  PutBucketOwnershipControls: { method: "PUT", path: b, query: "ownershipControls", body: "<OwnershipControls/>" },
  PutBucketPolicy: { method: "PUT", path: b, query: "policy", body: "{\"Version\":\"2012-10-17\",\"Statement\":[]}" },
  PutBucketReplication: { method: "PUT", path: b, query: "replication", body: "<ReplicationConfiguration/>" },
  PutBucketRequestPayment: { method: "PUT", path: b, query: "requestPayment", body: "<RequestPaymentConfiguration><Payer>Requester</Payer></RequestPaymentConfiguration>" },
  PutBucketTagging: { method: "PUT", path: b, query: "tagging", body: tagging },
  PutBucketVersioning: { method: "PUT", path: b, query: "versioning", body: "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>" },
  PutBucketWebsite: { method: "PUT", path: b, query: "website", body: "<WebsiteConfiguration/>" },
  PutObject: { method: "PUT", path: k, query: "x-id=PutObject", body: "table" },
  PutObjectAcl: { method: "PUT", path: k, query: "acl", headers: { "x-amz-acl": "private" } },
  PutObjectAnnotation: { method: "PUT", path: k, query: "annotation", body: "{}" },
  PutObjectLegalHold: { method: "PUT", path: k, query: "legal-hold", body: "<LegalHold><Status>ON</Status></LegalHold>" },
  PutObjectLockConfiguration: { method: "PUT", path: b, query: "object-lock", body: "<ObjectLockConfiguration/>" },
  PutObjectRetention: { method: "PUT", path: k, query: "retention", body: "<Retention/>" },
  PutObjectTagging: { method: "PUT", path: k, query: "tagging", body: tagging },
  PutPublicAccessBlock: { method: "PUT", path: b, query: "publicAccessBlock", body: "<PublicAccessBlockConfiguration/>" },
  RenameObject: { method: "PUT", path: k, query: "renameObject", headers: { "x-amz-rename-source": "table/old.txt" } },
  RestoreObject: { method: "POST", path: k, query: "restore", body: "<RestoreRequest><Days>1</Days></RestoreRequest>" },
  SelectObjectContent: { method: "POST", path: k, query: "select&select-type=2", body: "<SelectObjectContentRequest/>" },
  UpdateBucketMetadataAnnotationTableConfiguration: { method: "PUT", path: b, query: "metadataAnnotationTable", body: "<AnnotationTableConfiguration/>" },
  UpdateBucketMetadataInventoryTableConfiguration: { method: "PUT", path: b, query: "metadataInventoryTable", body: "<InventoryTableConfiguration/>" },
  UpdateBucketMetadataJournalTableConfiguration: { method: "PUT", path: b, query: "metadataJournalTable", body: "<JournalTableConfiguration/>" },
  UpdateObjectEncryption: { method: "PUT", path: k, query: "encryption", body: "<ObjectEncryption/>" },
  UploadPart: { method: "PUT", path: k, query: "partNumber=1&uploadId=table-upload&x-id=UploadPart", body: "part" },
  UploadPartCopy: { method: "PUT", path: "/table-bucket/table/copy.txt", query: "partNumber=1&uploadId=table-upload&x-id=UploadPartCopy", headers: copySource },
  WriteGetObjectResponse: { method: "POST", path: "/WriteGetObjectResponse", headers: { "x-amz-request-route": "route", "x-amz-request-token": "token" }, body: "" },
};

function routeOf(request: RepresentativeRequest): Route {
  const [bucket = "", ...keyParts] = request.path.slice(1).split("/");
  return routeRequest({
    method: request.method,
    bucket,
    key: keyParts.map((part) => decodeURIComponent(part)).join("/"),
    query: parseQuery(request.query ?? ""),
    headers: new Map(Object.entries(request.headers ?? {})),
  });
}

function describeRoute(route: Route): string {
  if (route.kind === "operation") return `operation ${route.name}`;
  if (route.kind === "not-implemented") return `not-implemented (${route.reason})`;
  return route.kind;
}

const table = readOperationTable();
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
  await gateway.client.send(new CreateBucketCommand({ Bucket: "table-bucket" }));
  await gateway.client.send(new PutObjectCommand({ Bucket: "table-bucket", Key: "table/key.txt", Body: "table key" }));
});
afterAll(async () => {
  await gateway?.stop();
});

describe("the operation table in gateway/README.md", () => {
  test("has one row per operation, each with a representative request here", () => {
    const names = table.map((row) => row.operation);
    expect(names.length).toBeGreaterThan(100);
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual(Object.keys(representativeRequests).sort());
  });

  test("lists every operation the installed AWS SDK knows", () => {
    const listed = new Set(table.map((row) => row.operation));
    expect(sdkOperations().filter((name) => !listed.has(name))).toEqual([]);
  });

  test("Partial and Misrouted rows say what is missing or wrong", () => {
    expect(table.filter((row) => (row.status === "Partial" || row.status === "Misrouted") && row.notes === "").map((row) => row.operation)).toEqual([]);
  });

  test("each row's status matches the router", () => {
    const mismatches: string[] = [];
    for (const row of table) {
      const request = representativeRequests[row.operation];
      if (request === undefined) continue;
      const route = routeOf(request);
      const ownOperation = route.kind === "operation" && route.name === row.operation;
      const ok =
        row.status === "501"
          ? route.kind === "not-implemented" || ownOperation
          : row.status === "Misrouted"
            ? route.kind === "operation" && route.name !== row.operation
            : ownOperation;
      if (!ok) mismatches.push(`${row.operation} is '${row.status}' in the table but routes to ${describeRoute(route)}`);
    }
    expect(mismatches).toEqual([]);
  });

  test("each row's status matches the handler's answer", async () => {
    const mismatches: string[] = [];
    for (const row of table) {
      const request = representativeRequests[row.operation];
      if (request === undefined) continue;
      const response = await gateway.signedFetch({
        method: request.method,
        rawPath: request.path,
        ...(request.query === undefined ? {} : { rawQuery: request.query }),
        ...(request.headers === undefined ? {} : { headers: request.headers }),
        ...(request.body === undefined ? {} : { body: request.body }),
      });
      const body = await response.text();
      if (row.status === "501") {
        const errorBody = request.method === "HEAD" || /<Error>\s*<Code>NotImplemented<\/Code>/.test(body);
        if (response.status !== 501 || !errorBody) mismatches.push(`${row.operation} is '501' in the table but answered ${response.status}: ${body.slice(0, 200)}`);
      } else if (response.status === 501) {
        mismatches.push(`${row.operation} is '${row.status}' in the table but answered 501: ${body.slice(0, 200)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });
});
