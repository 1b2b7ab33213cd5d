// @vitest-environment node
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "./app.js";
import { loadConfig } from "./config.js";

/** A stand-in backend on loopback that echoes what it received. */
function startBackend() {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (req.url === "/healthz") return res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      if (req.url.startsWith("/api/v1/docs")) {
        return res.writeHead(200, { "content-type": "text/html", "content-security-policy": "default-src 'self' 'unsafe-inline'" }).end("<html>docs</html>");
      }
      if (req.url === "/api/v1/auth/login") {
        return res
          .writeHead(429, { "content-type": "application/json", "retry-after": "7", "set-cookie": "rookery_refresh=x; HttpOnly; Path=/api/v1/auth" })
          .end(JSON.stringify({ error: { code: "rate_limited", message: "slow", details: { retry_after: 7 } } }));
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: { url: req.url, body } }));
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, seen, url: `http://127.0.0.1:${server.address().port}` })));
}

function listen(app) {
  return new Promise((resolve) => {
    const server = app.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

let backend;
let web;
let webDown;
let webBehindProxy;
const dist = mkdtempSync(join(tmpdir(), "webui-dist-"));

beforeAll(async () => {
  mkdirSync(join(dist, "assets"));
  writeFileSync(join(dist, "index.html"), '<!doctype html><script type="module" src="/assets/index-abc123.js"></script>');
  writeFileSync(join(dist, "assets", "index-abc123.js"), "console.log('app');".repeat(200));
  writeFileSync(join(dist, "favicon.svg"), "<svg/>");
  backend = await startBackend();
  web = await listen(createApp({ flaskApiUrl: backend.url, distDir: dist, proxyTimeoutMs: 5000, version: "9.9.9" }));
  // Nothing listens on port 9 of loopback (discard): the proxy must answer 502 itself.
  webDown = await listen(createApp({ flaskApiUrl: "http://127.0.0.1:9", distDir: dist, proxyTimeoutMs: 2000, version: "9.9.9" }));
  webBehindProxy = await listen(createApp({ flaskApiUrl: backend.url, distDir: dist, proxyTimeoutMs: 5000, version: "9.9.9", trustedProxies: 1 }));
});

afterAll(() => {
  for (const s of [backend?.server, web?.server, webDown?.server, webBehindProxy?.server]) s?.closeAllConnections?.(), s?.close();
});

describe("web UI server", () => {
  it("reports its version on /healthz", async () => {
    const res = await fetch(`${web.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", service: "webui", version: "9.9.9" });
  });

  it("is ready only when the backend answers", async () => {
    expect((await fetch(`${web.url}/readyz`)).status).toBe(200);
    const down = await fetch(`${webDown.url}/readyz`);
    expect(down.status).toBe(503);
    expect((await down.json()).checks.backend).toBe("unreachable");
  });

  it("proxies /api with path, query, body and a generated request id", async () => {
    const res = await fetch(`${web.url}/api/v1/rules?page=2`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "r" }),
    });
    expect(res.status).toBe(200);
    expect((await res.json()).data).toEqual({ url: "/api/v1/rules?page=2", body: '{"name":"r"}' });
    const got = backend.seen.at(-1);
    expect(got.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get("x-request-id")).toBe(got.headers["x-request-id"]);
    expect(got.headers["x-forwarded-proto"]).toBe("http");
  });

  it("replaces a client's X-Forwarded-* with what it saw itself", async () => {
    const webHost = new URL(web.url).host;
    await fetch(`${web.url}/api/v1/auth/me`, {
      headers: {
        "x-forwarded-for": "203.0.113.66, 198.51.100.1",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "evil.example",
        forwarded: "for=203.0.113.66",
        "x-real-ip": "203.0.113.66",
      },
    });
    const got = backend.seen.at(-1).headers;
    // exactly one address, the socket's peer: the backend's one trusted hop finds the client
    expect(got["x-forwarded-for"]).toBe("127.0.0.1");
    expect(got["x-forwarded-proto"]).toBe("http");
    expect(got["x-forwarded-host"]).toBe(webHost);
    expect(got.forwarded).toBeUndefined();
    expect(got["x-real-ip"]).toBeUndefined();
  });

  it("believes only as many proxies in front of it as WEBUI_TRUSTED_PROXIES says", async () => {
    // one trusted proxy appended the address it saw; what the client wrote before is ignored
    await fetch(`${webBehindProxy.url}/api/v1/auth/me`, {
      headers: { "x-forwarded-for": "203.0.113.66, 198.51.100.7", "x-forwarded-proto": "https", "x-forwarded-host": "rookery.example" },
    });
    let got = backend.seen.at(-1).headers;
    expect(got["x-forwarded-for"]).toBe("198.51.100.7");
    expect(got["x-forwarded-proto"]).toBe("https");
    expect(got["x-forwarded-host"]).toBe("rookery.example");
    // no proxy in front after all (no header): the socket's peer is the client
    await fetch(`${webBehindProxy.url}/api/v1/auth/me`);
    got = backend.seen.at(-1).headers;
    expect(got["x-forwarded-for"]).toBe("127.0.0.1");
    expect(got["x-forwarded-proto"]).toBe("http");
  });

  it("reads WEBUI_TRUSTED_PROXIES as a hop count, none by default", () => {
    expect(loadConfig({}).trustedProxies).toBe(0);
    expect(loadConfig({ WEBUI_TRUSTED_PROXIES: "1" }).trustedProxies).toBe(1);
    // flask-backend's setting, in a shared env file, is not the web UI's
    expect(loadConfig({ TRUSTED_PROXIES: "1" }).trustedProxies).toBe(0);
    for (const bad of ["yes", "-1", "1.5", "11"]) expect(() => loadConfig({ WEBUI_TRUSTED_PROXIES: bad })).toThrow(/WEBUI_TRUSTED_PROXIES/);
  });

  it("keeps a caller's request id", async () => {
    await fetch(`${web.url}/api/v1/users`, { headers: { "x-request-id": "trace-42" } });
    expect(backend.seen.at(-1).headers["x-request-id"]).toBe("trace-42");
  });

  it("passes the backend's status, Retry-After and cookies through", async () => {
    const res = await fetch(`${web.url}/api/v1/auth/login`, { method: "POST", body: "{}" });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(res.headers.get("set-cookie")).toContain("rookery_refresh=x");
  });

  it("leaves the API docs page under the backend's own CSP", async () => {
    const res = await fetch(`${web.url}/api/v1/docs`);
    expect(res.headers.get("content-security-policy")).toBe("default-src 'self' 'unsafe-inline'");
  });

  it("answers 502 JSON and counts a proxy error when the backend is down", async () => {
    const res = await fetch(`${webDown.url}/api/v1/users`);
    expect(res.status).toBe(502);
    expect((await res.json()).error.code).toBe("upstream_unavailable");
    const metrics = await (await fetch(`${webDown.url}/metrics`)).text();
    expect(metrics).toMatch(/webui_proxy_errors_total\{reason="ECONNREFUSED"\} 1/);
  });

  it("serves hashed assets for a year and index.html revalidated, with a strict CSP", async () => {
    const asset = await fetch(`${web.url}/assets/index-abc123.js`, { headers: { "accept-encoding": "gzip" } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const page = await fetch(`${web.url}/users/42`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-cache");
    expect(await page.text()).toContain("/assets/index-abc123.js");
    const csp = page.headers.get("content-security-policy");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("answers 404 for a missing asset instead of the SPA page", async () => {
    const res = await fetch(`${web.url}/assets/missing-000.js`);
    expect(res.status).toBe(404);
  });

  it("exports request counts, durations and build_info", async () => {
    const text = await (await fetch(`${web.url}/metrics`)).text();
    expect(text).toContain('build_info{version="9.9.9",service="webui"} 1');
    expect(text).toMatch(/webui_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(text).toMatch(/webui_http_requests_total\{method="POST",route="\/api",status="429"\} 1/);
    expect(text).toContain("webui_http_request_duration_seconds_bucket");
    // Prometheus reserves the _total suffix for counters.
    const misnamed = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].filter(([, name, type]) => type !== "counter" && name.endsWith("_total"));
    expect(misnamed.map((m) => m[1])).toEqual([]);
  });
});
