export { serveNodeHttp } from "./serve.ts";
export type { NodeHttpS3Server, ServeNodeHttpOptions } from "./serve.ts";
