/**
 * Test support: what an AWS SDK command failed with, as `[error code, HTTP
 * status]`, for assertions like `expect(await failure(send(…))).toEqual(["NoSuchKey", 404])`.
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
