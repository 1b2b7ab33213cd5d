// Playwright's global setup: starts the real trio once (packet-service, flask-backend on
// SQLite, this Express server, each on a free loopback port) and hands the specs its
// addresses through the environment (workers inherit it). The returned function stops it.
import { mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ADMIN, startTrio } from "./harness.js";
import { ACCESS_TTL, root, shotDir } from "./paths.js";

async function probe(backendUrl) {
  // Every scenario needs the rules and statistics APIs: a backend without them is a failed
  // run, never a skip.
  const login = await fetch(`${backendUrl}/api/v1/auth/login`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(ADMIN),
  });
  const token = (await login.json()).data?.access_token;
  if (!token) throw new Error(`the admin cannot sign in to the backend under test (status ${login.status})`);
  for (const path of ["/api/v1/rules", "/api/v1/stats/summary"]) {
    const res = await fetch(`${backendUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status === 404) throw new Error(`the backend under test has no ${path} API`);
  }
}

/** Clears what an earlier run left in artifacts/webui (screenshots, axe findings, logs), nothing else. */
function clearArtifacts() {
  mkdirSync(shotDir, { recursive: true });
  for (const name of readdirSync(shotDir)) {
    if (name.endsWith(".png") || name === "axe.json" || name === "logs") rmSync(join(shotDir, name), { recursive: true, force: true });
  }
}

export default async function globalSetup() {
  clearArtifacts();
  const logDir = join(shotDir, "logs");
  let trio;
  try {
    trio = await startTrio({ root, logDir, accessTtl: ACCESS_TTL });
    await probe(trio.backendUrl);
  } catch (err) {
    // The services' own words are the quickest way to see why one did not come up.
    for (const name of ["packet-service", "flask-backend", "webui"]) {
      try {
        const lines = readFileSync(join(logDir, `${name}.log`), "utf8").trim().split("\n").slice(-15);
        console.error(`--- ${name}.log (last lines)\n${lines.join("\n")}`);
      } catch { /* that service was not started */ }
    }
    await trio?.stop();
    throw err;
  }
  console.log(`[e2e] trio up: web ${trio.webUrl}, backend ${trio.backendUrl}, packet-service ${trio.packetTarget}`);
  Object.assign(process.env, {
    E2E_WEB_URL: trio.webUrl,
    E2E_BACKEND_URL: trio.backendUrl,
    E2E_PACKET_TARGET: trio.packetTarget,
    E2E_PY: trio.py,
    E2E_ACCESS_TTL: String(ACCESS_TTL),
  });
  return async () => {
    await trio.stop();
  };
}
