// A second flask-backend + web UI for the licence and single sign-on specs, in production
// mode with a licence signed by a key made for this run (scripts/license.py keygen/issue,
// handed over as LICENSE_PUBLIC_KEY and LICENSE_KEY) and, when asked, OpenID Connect settings
// pointing at the test OpenID Provider (scripts/oidc-test-provider/provider.mjs). Each spec
// starts its own (a worker fixture: once per worker, stopped after), on free loopback ports,
// beside the shared trio of global-setup.js, which keeps its development settings.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ADMIN, freePort, startTrio } from "./harness.js";
import { ACCESS_TTL, root, shotDir } from "./paths.js";

const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const py = () => process.env.PY ?? join(root, ".venv", "bin", "python");
const licenseCli = join(root, "scripts", "license.py");
const providerCli = join(root, "scripts", "oidc-test-provider", "provider.mjs");

export const CALLBACK_PATH = "/api/v1/auth/sso/callback";

/** A signing key pair for licences, in a directory of its own (license.py keygen). */
export async function licenseKeys(dir) {
  await run(py(), [licenseCli, "keygen", "--out", dir]);
  return { privateKey: join(dir, "license-private.pem"), publicKey: join(dir, "license-public.pem") };
}

/** The text of a licence signed with `privateKey` (license.py issue). */
export async function issueLicense(privateKey, { customer, tier, days, seats, features }) {
  const args = [licenseCli, "issue", "--key", privateKey, "--customer", customer, "--tier", tier, "--days", String(days)];
  if (seats !== undefined) args.push("--seats", String(seats));
  if (features?.length) args.push("--features", features.join(","));
  const { stdout } = await run(py(), args);
  const text = stdout.trim();
  if (!text.startsWith("rookery1.")) throw new Error(`license.py issue printed no licence: ${stdout}`);
  return text;
}

/**
 * Starts the test OpenID Provider on `port`; resolves once it prints its ready line. The
 * returned stop() sends SIGTERM and waits for the process to end. `clockOffset` (seconds,
 * negative: behind) runs the provider with its clock shifted; `idTokenAudience` makes it put
 * that audience in the ID tokens it signs instead of the client's id.
 */
export async function startProvider({ port, clientId, clientSecret, redirectUri, users, dir, logDir, clockOffset = 0, idTokenAudience }) {
  const usersFile = join(dir, "oidc-users.json");
  writeFileSync(usersFile, JSON.stringify(users));
  const issuer = `http://127.0.0.1:${port}`;
  const logFile = join(logDir, "oidc-provider.log");
  const log = openSync(logFile, "a");
  const tail = () => { try { return readFileSync(logFile, "utf8").trim().split("\n").slice(-5).join(" | "); } catch { return ""; } };
  const proc = spawn(process.execPath, [
    providerCli, "--port", String(port), "--issuer", issuer, "--client-id", clientId,
    "--client-secret", clientSecret, "--redirect-uri", redirectUri, "--users", usersFile,
    // With `=`: a negative offset would read as an option otherwise.
    ...(clockOffset ? [`--clock-offset=${clockOffset}`] : []),
    ...(idTokenAudience !== undefined ? [`--id-token-audience=${idTokenAudience}`] : []),
  ], { stdio: ["ignore", "pipe", log], detached: true });
  const ready = new Promise((resolve, reject) => {
    let out = "";
    // Its start is quick (half a second) unless the machine is very busy.
    const timer = setTimeout(() => reject(new Error(`the OpenID Provider did not start within 60 s: ${out} ${tail()}`)), 60_000);
    proc.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes(`oidc-test-provider ready ${issuer}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the OpenID Provider exited with ${code} before it was ready: ${tail()}`));
    });
  });
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    try { process.kill(-proc.pid, "SIGTERM"); } catch { /* already gone */ }
    const deadline = Date.now() + 5000;
    while (proc.exitCode === null && proc.signalCode === null && Date.now() < deadline) await sleep(100);
    if (proc.exitCode === null && proc.signalCode === null) {
      try { process.kill(-proc.pid, "SIGKILL"); } catch { /* already gone */ }
    }
  };
  try {
    await ready;
  } catch (err) {
    // Never left running after a failed start (a hung start would outlive the run).
    await stop();
    throw err;
  }
  proc.stdout.resume();
  return { issuer, stop };
}

/**
 * flask-backend (production mode, the given licence) and the web UI; with `oidc`, the backend
 * is set up for single sign-on against a provider on `oidc.port`, which the caller starts
 * (startProvider) when it wants it up: the backend only asks the provider on a sign-on.
 */
export async function startLicensedStack({ name, license, publicKey, oidc = null, extraEnv = {} }) {
  const logDir = join(shotDir, "logs", name);
  const backendEnv = ({ webUrl }) => ({
    RELEASE_MODE: "production",
    SECRET_KEY: randomBytes(48).toString("base64url"),
    SECURITY_PASSWORD_SALT: randomBytes(24).toString("base64url"),
    PUBLIC_URL: webUrl,
    LICENSE_PUBLIC_KEY: publicKey,
    LICENSE_KEY: license,
    ...(oidc
      ? {
        OIDC_ISSUER: `http://127.0.0.1:${oidc.port}`,
        OIDC_CLIENT_ID: oidc.clientId,
        OIDC_CLIENT_SECRET: oidc.clientSecret,
        OIDC_PROVIDER_NAME: oidc.providerName,
        OIDC_ROLE_MAP: oidc.roleMap,
        OIDC_DEFAULT_ROLE: oidc.defaultRole ?? "viewer",
        OIDC_SCOPES: "openid email profile",
      }
      : {}),
    ...extraEnv,
  });
  const trio = await startTrio({ root, logDir, accessTtl: ACCESS_TTL, packetService: false, backendEnv });
  return { ...trio, logDir };
}

/** An admin token and JSON calls to a stack's backend (outside the browser). */
export function adminApi(backendUrl) {
  const token = async () => {
    const res = await fetch(`${backendUrl}/api/v1/auth/login`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(ADMIN),
    });
    const body = await res.json();
    if (!body.data?.access_token) throw new Error(`the admin cannot sign in (status ${res.status})`);
    return body.data.access_token;
  };
  const call = async (method, path, body) => {
    const res = await fetch(`${backendUrl}${path}`, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${await token()}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
  return { token, call };
}

/** A directory for this stack's keys and files, removed by the returned function. */
export function scratchDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export { freePort };
