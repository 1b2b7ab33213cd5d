import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** The product version: ROOKERY_VERSION in containers, else the repository's .version file. */
export function readVersion() {
  if (process.env.ROOKERY_VERSION) return process.env.ROOKERY_VERSION.trim();
  for (const p of [join(here, "..", "..", "..", ".version"), join(here, "..", ".version")]) {
    try {
      return readFileSync(p, "utf8").trim();
    } catch {
      // try the next place
    }
  }
  return "0.0.0-unknown";
}

/** WEBUI_TRUSTED_PROXIES: how many proxies in front of this server set X-Forwarded-* (0-10). */
function hops(raw) {
  const value = Number(raw ?? 0);
  if (!Number.isInteger(value) || value < 0 || value > 10) {
    throw new Error(`WEBUI_TRUSTED_PROXIES: expected a whole number of proxies 0-10, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Every setting the server reads, each with a working default. */
export function loadConfig(env = process.env) {
  return {
    port: Number(env.PORT ?? 3000),
    host: env.HOST ?? "127.0.0.1",
    flaskApiUrl: (env.FLASK_API_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, ""),
    distDir: env.WEBUI_DIST_DIR ?? join(here, "..", "dist"),
    proxyTimeoutMs: Number(env.PROXY_TIMEOUT_MS ?? 30000),
    // its own name: flask-backend's TRUSTED_PROXIES=1 in a shared env file must not reach it
    // 0: the socket's peer is the client and no client-sent X-Forwarded-* is believed
    trustedProxies: hops(env.WEBUI_TRUSTED_PROXIES || undefined),
    version: readVersion(),
  };
}
