/** The `Bun.serve` adapter for the S3 core. */
export { defaultMaxRequestBodyBytes, serveBun, splitRawUrl, type BunS3Server, type ServeBunOptions } from "./serve.ts";
