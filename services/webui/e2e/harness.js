// Starts the real trio on free loopback ports for the browser tests, and stops it again.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitHealthy(url, proc, name, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode} before it was healthy (see its log)`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`${name} did not answer 200 on ${url} within ${timeoutMs / 1000} s`);
}

// .local: the backend refuses the other special-use domains (.test, .invalid…) in e-mail addresses.
export const ADMIN = { email: "admin@rookery.local", password: "Admin-e2e-Passw0rd!" };

/**
 * Starts packet-service (when present), flask-backend and the Express server, each in its
 * own process group so stop() can end it and anything it started.
 *
 * For a second stack with other settings (the licence and single sign-on specs):
 * `packetService: false` leaves packet-service out, and `backendEnv` adds to (or overrides)
 * flask-backend's environment: an object, or a function given `{ webUrl, dataDir }` (the web
 * UI's address is chosen first, so PUBLIC_URL can name it).
 */
export async function startTrio({ root, logDir, accessTtl, packetService = true, backendEnv = {} }) {
  const py = process.env.PY ?? join(root, ".venv", "bin", "python");
  const procs = [];
  const dataDir = mkdtempSync(join(tmpdir(), "rookery-e2e-"));
  mkdirSync(logDir, { recursive: true });

  function start(name, cmd, args, cwd, env) {
    const log = openSync(join(logDir, `${name}.log`), "w");
    const proc = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", log, log], detached: true });
    procs.push({ name, proc });
    return proc;
  }

  const stop = async () => {
    for (const { proc } of procs.reverse()) {
      if (proc.exitCode === null) {
        try { process.kill(-proc.pid, "SIGTERM"); } catch { /* already gone */ }
      }
    }
    const deadline = Date.now() + 5000;
    for (const { proc } of procs) {
      while (proc.exitCode === null && proc.signalCode === null && Date.now() < deadline) await sleep(100);
      if (proc.exitCode === null && proc.signalCode === null) {
        try { process.kill(-proc.pid, "SIGKILL"); } catch { /* already gone */ }
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    const info = { py, dataDir, packetTarget: null };
    const psDir = join(root, "services", "packet-service");
    // packet-service's own AuthService credential, fresh per run (as scripts/run_trio.py):
    // flask-backend provisions it, packet-service presents it.
    const serviceKey = `rk_${randomBytes(4).toString("hex")}_${randomBytes(30).toString("base64url")}`;
    const env = { AUTH_SERVICE_API_KEY: serviceKey };
    // Chosen first: packet-service validates its callers through the backend's AuthService.
    const authGrpcPort = await freePort();
    const grpcPort = await freePort();
    const metricsPort = await freePort();
    if (packetService) {
      const ps = start("packet-service", py, ["-m", "packet_service", "serve"], psDir, {
        GRPC_PORT: String(grpcPort),
        METRICS_PORT: String(metricsPort),
        RELEASE_MODE: "development",
        // As in `make run`: callers authenticate through flask-backend's AuthService
        // (the backend publishes with its own service key; classify.py sends an API key).
        AUTH_REQUIRED: "true",
        AUTH_SERVICE_TARGET: `127.0.0.1:${authGrpcPort}`,
        AUTH_SERVICE_API_KEY: serviceKey,
      });
      await waitHealthy(`http://127.0.0.1:${metricsPort}/healthz`, ps, "packet-service");
      info.packetTarget = `127.0.0.1:${grpcPort}`;
      env.PACKET_SERVICE_TARGETS = info.packetTarget;
    }
    const webPort = await freePort();
    info.webUrl = `http://127.0.0.1:${webPort}`;
    const extra = typeof backendEnv === "function" ? backendEnv({ webUrl: info.webUrl, dataDir }) : backendEnv;
    const httpPort = await freePort();
    const backend = start("flask-backend", py, ["-m", "rookery_backend", "serve"], join(root, "services", "flask-backend"), {
      ...env,
      HTTP_PORT: String(httpPort),
      GRPC_PORT: String(authGrpcPort),
      DB_TYPE: "sqlite",
      DATA_DIR: dataDir,
      RELEASE_MODE: "development",
      BCRYPT_ROUNDS: "4",
      ACCESS_TOKEN_TTL: String(accessTtl),
      LOGIN_RATE_LIMIT: "1000/minute",
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      ...extra,
    });
    info.backendUrl = `http://127.0.0.1:${httpPort}`;
    await waitHealthy(`${info.backendUrl}/healthz`, backend, "flask-backend");

    const web = start("webui", process.execPath, ["server/index.js"], resolve(root, "services", "webui"), {
      PORT: String(webPort),
      FLASK_API_URL: info.backendUrl,
    });
    await waitHealthy(`${info.webUrl}/healthz`, web, "webui");
    return { ...info, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
