/**
 * Test support: what an S3 request failed with. `failure` gives an AWS SDK
 * command's `[error code, HTTP status]`, for assertions like
 * `expect(await failure(send(…))).toEqual(["NoSuchKey", 404])`; `errorCodeOf`
 * reads the code out of a raw response's XML error body.
 */
import { S3ServiceException } from "@aws-sdk/client-s3";

/** The S3 error a command failed with; throws when it succeeded or failed with something else. */
export async function failure(promise: Promise<unknown>): Promise<[string, number | undefined]> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S3ServiceException) return [error.name, error.$metadata.httpStatusCode];
    throw error;
  }
  throw new Error("expected the command to fail");
}

/** The `<Code>` of an S3 error body; undefined when the body has none (an empty 304, a 200). */
export async function errorCodeOf(response: Response): Promise<string | undefined> {
  return /<Code>([^<]*)<\/Code>/.exec(await response.text())?.[1];
}
