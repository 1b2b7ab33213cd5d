import "./tracing.js"; // first: instruments http and Express before they load (when OTEL_* asks for it)
import { createApp } from "./app.js";
import { loadConfig } from "./config.js";
import { log } from "./log.js";

const config = loadConfig();
const server = createApp(config).listen(config.port, config.host, () => {
  log("info", "webui listening", { url: `http://${config.host}:${config.port}/`, backend: config.flaskApiUrl, version: config.version });
});

function stop(signal) {
  log("info", "webui stopping", { signal });
  server.close(() => process.exit(0));
  // Keep-alive sockets would hold close() open; give in-flight requests a moment, then go.
  setTimeout(() => process.exit(0), 3000).unref();
  server.closeIdleConnections?.();
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
