"""S3 versioning checks driven by boto3 (Debian's python3-boto3), run by test/s3-boto3.test.ts.

Reads CAIRN_ENDPOINT, CAIRN_ACCESS_KEY, CAIRN_SECRET_KEY and CAIRN_BUCKET_PREFIX from the
environment, and CAIRN_RETRY_ENDPOINT (optional): a relay to the same server that resets the first
response, for the retry check. Every check is an assert with a message; the first failure exits non-zero with it.
On success prints one JSON line: {"ok": true, "checks": <count>}.
"""

import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

checks = 0


def check(condition, message):
    global checks
    checks += 1
    if not condition:
        raise AssertionError(message)


def error_of(call):
    """The (code, status, headers) of the ClientError a call raises."""
    try:
        call()
    except ClientError as error:
        response = error.response
        return (
            response.get("Error", {}).get("Code"),
            response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            response.get("ResponseMetadata", {}).get("HTTPHeaders", {}),
        )
    raise AssertionError("expected the call to fail")


def body_of(s3, bucket, key, version_id=None):
    arguments = {"Bucket": bucket, "Key": key}
    if version_id is not None:
        arguments["VersionId"] = version_id
    return s3.get_object(**arguments)["Body"].read().decode()


def main():
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["CAIRN_ENDPOINT"],
        aws_access_key_id=os.environ["CAIRN_ACCESS_KEY"],
        aws_secret_access_key=os.environ["CAIRN_SECRET_KEY"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, signature_version="s3v4"),
    )
    prefix = os.environ.get("CAIRN_BUCKET_PREFIX", "boto")
    bucket = prefix + "-versions"

    s3.create_bucket(Bucket=bucket)
    check("Status" not in s3.get_bucket_versioning(Bucket=bucket), "a new bucket is unversioned")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    check(s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", "versioning Enabled")

    ids = [s3.put_object(Bucket=bucket, Key="doc", Body=body)["VersionId"] for body in ("one", "two", "three")]
    check(len(set(ids)) == 3 and "null" not in ids, "three distinct version ids: %r" % ids)
    check(body_of(s3, bucket, "doc") == "three", "the newest version is current")
    check(body_of(s3, bucket, "doc", ids[0]) == "one", "GET by the first version id")
    check(s3.head_object(Bucket=bucket, Key="doc", VersionId=ids[1])["ContentLength"] == 3, "HEAD by version id")

    deleted = s3.delete_object(Bucket=bucket, Key="doc")
    marker_id = deleted.get("VersionId")
    check(deleted.get("DeleteMarker") is True and marker_id not in (None, "null"), "DELETE adds a delete marker: %r" % deleted)
    code, status, headers = error_of(lambda: s3.get_object(Bucket=bucket, Key="doc"))
    check((code, status) == ("NoSuchKey", 404), "GET after the marker is NoSuchKey: %r" % ((code, status),))
    check(headers.get("x-amz-delete-marker") == "true", "the 404 says it is a delete marker: %r" % headers)
    code, status, headers = error_of(lambda: s3.head_object(Bucket=bucket, Key="doc"))
    check(status == 404 and headers.get("x-amz-delete-marker") == "true", "HEAD after the marker: %r" % ((code, status),))
    code, status, _ = error_of(lambda: s3.get_object(Bucket=bucket, Key="doc", VersionId=marker_id))
    check((code, status) == ("MethodNotAllowed", 405), "GET of the marker by id is 405: %r" % ((code, status),))

    listed = s3.list_object_versions(Bucket=bucket)
    versions = [(entry["Key"], entry["VersionId"], entry["IsLatest"]) for entry in listed.get("Versions", [])]
    markers = [(entry["Key"], entry["VersionId"], entry["IsLatest"]) for entry in listed.get("DeleteMarkers", [])]
    check(versions == [("doc", ids[2], False), ("doc", ids[1], False), ("doc", ids[0], False)], "versions newest first: %r" % versions)
    check(markers == [("doc", marker_id, True)], "the marker is latest: %r" % markers)
    check(s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0, "ListObjectsV2 skips a key whose current version is a marker")

    removed = s3.delete_object(Bucket=bucket, Key="doc", VersionId=marker_id)
    check(removed.get("DeleteMarker") is True and removed.get("VersionId") == marker_id, "deleting the marker by id: %r" % removed)
    check(body_of(s3, bucket, "doc") == "three", "removing the marker restores the object")
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=ids[2])
    check(body_of(s3, bucket, "doc") == "two", "deleting the current version makes the previous one current")
    code, status, _ = error_of(lambda: s3.get_object(Bucket=bucket, Key="doc", VersionId=ids[2]))
    check((code, status) == ("NoSuchVersion", 404), "a deleted version is NoSuchVersion: %r" % ((code, status),))
    code, status, _ = error_of(lambda: s3.get_object(Bucket=bucket, Key="doc", VersionId="bad id!"))
    check((code, status) == ("InvalidArgument", 400), "a malformed version id is InvalidArgument: %r" % ((code, status),))

    # Listing with prefix, delimiter and boto3's paginator (KeyMarker / VersionIdMarker).
    for key in ("dir/a", "dir/b", "dir/sub/c", "top"):
        for body in ("1", "2"):
            s3.put_object(Bucket=bucket, Key=key, Body=body)
    top = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    check([entry["Prefix"] for entry in top.get("CommonPrefixes", [])] == ["dir/"], "one common prefix: %r" % top.get("CommonPrefixes"))
    check(sorted({entry["Key"] for entry in top.get("Versions", [])}) == ["doc", "top"], "top-level keys only")
    in_dir = s3.list_object_versions(Bucket=bucket, Prefix="dir/", Delimiter="/")
    check([entry["Key"] for entry in in_dir.get("Versions", [])] == ["dir/a", "dir/a", "dir/b", "dir/b"], "keys under dir/: %r" % in_dir.get("Versions"))
    check([entry["Prefix"] for entry in in_dir.get("CommonPrefixes", [])] == ["dir/sub/"], "dir/sub/ rolled up")
    whole = s3.list_object_versions(Bucket=bucket)
    expected = sorted(entry["Key"] + "@" + entry["VersionId"] for entry in whole.get("Versions", []))
    paged = []
    pages = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        pages += 1
        check(len(page.get("Versions", [])) + len(page.get("DeleteMarkers", [])) <= 2, "a page holds at most 2 entries")
        paged.extend(entry["Key"] + "@" + entry["VersionId"] for entry in page.get("Versions", []))
    check(sorted(paged) == expected and len(paged) == 10, "pages of 2 cover every version once: %d of %d" % (len(paged), len(expected)))
    check(pages == 5, "10 versions in pages of 2 take 5 pages, took %d" % pages)

    # Suspended: the null version.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    check(s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Suspended", "versioning Suspended")
    first_null = s3.put_object(Bucket=bucket, Key="top", Body="null-one")
    check(first_null.get("VersionId") == "null", "a PUT in a suspended bucket writes the null version: %r" % first_null.get("VersionId"))
    s3.put_object(Bucket=bucket, Key="top", Body="null-two")
    top_versions = s3.list_object_versions(Bucket=bucket, Prefix="top")
    null_entries = [entry for entry in top_versions.get("Versions", []) if entry["VersionId"] == "null"]
    check(len(null_entries) == 1 and null_entries[0]["IsLatest"], "exactly one null version, current")
    check(len(top_versions.get("Versions", [])) == 3, "the two earlier versions stay: %r" % top_versions.get("Versions"))
    check(body_of(s3, bucket, "top", "null") == "null-two", "GET versionId=null")
    suspended_delete = s3.delete_object(Bucket=bucket, Key="top")
    check(suspended_delete.get("DeleteMarker") is True and suspended_delete.get("VersionId") == "null", "a null delete marker: %r" % suspended_delete)

    # DeleteObjects with VersionId.
    doc_versions = [entry["VersionId"] for entry in s3.list_object_versions(Bucket=bucket, Prefix="doc").get("Versions", [])]
    multi = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "doc", "VersionId": version} for version in doc_versions]})
    check(not multi.get("Errors"), "DeleteObjects by version: no errors: %r" % multi.get("Errors"))
    check(sorted(entry["VersionId"] for entry in multi.get("Deleted", [])) == sorted(doc_versions), "every named version reported deleted")
    check("Versions" not in s3.list_object_versions(Bucket=bucket, Prefix="doc"), "no version of doc is left")

    retry_endpoint = os.environ.get("CAIRN_RETRY_ENDPOINT")
    if retry_endpoint:
        check_retry(s3, retry_endpoint, prefix + "-retry")

    print(json.dumps({"ok": True, "checks": checks}))


def check_retry(s3, retry_endpoint, bucket):
    """boto3 through a relay that resets the first response: botocore retries the PUT by itself with the
    same amz-sdk-invocation-id, and the bucket holds one version."""
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    retrying = boto3.client(
        "s3",
        endpoint_url=retry_endpoint,
        aws_access_key_id=os.environ["CAIRN_ACCESS_KEY"],
        aws_secret_access_key=os.environ["CAIRN_SECRET_KEY"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 3, "mode": "standard"}, signature_version="s3v4"),
    )
    body = bytes((offset * 31) & 0xFF for offset in range(64 * 1024))
    reply = retrying.put_object(Bucket=bucket, Key="retried", Body=body)
    check(reply["ResponseMetadata"]["RetryAttempts"] == 1, "boto3 retried once: %r" % reply["ResponseMetadata"].get("RetryAttempts"))
    versions = [entry["VersionId"] for entry in s3.list_object_versions(Bucket=bucket, Prefix="retried").get("Versions", [])]
    check(versions == [reply["VersionId"]], "the retried PUT landed once: %r, answered %r" % (versions, reply["VersionId"]))
    # Control: a second call has a new invocation id and writes a second version.
    retrying.put_object(Bucket=bucket, Key="retried", Body=body)
    check(len(s3.list_object_versions(Bucket=bucket, Prefix="retried").get("Versions", [])) == 2, "a new call writes a new version")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(json.dumps({"ok": False, "checks": checks, "failure": str(failure)}))
        sys.exit(1)
