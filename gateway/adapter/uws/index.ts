/** The uWebSockets.js adapter for the S3 core (Node 20 only). */
export { defaultMaxRequestBodyBytes, defaultRequestBodyQueuedBytesMax, serveUws, type ServeUwsOptions, type UwsS3Server } from "./serve.ts";
