import http from "node:http";
import https from "node:https";
import { randomUUID } from "node:crypto";

// Hop-by-hop headers (RFC 9110 §7.6.1) are for one connection and are never forwarded.
const HOP_BY_HOP = new Set([
  "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
  "te", "trailer", "transfer-encoding", "upgrade",
]);

// The one request id rule (rookery_common.request_id in the Python services; both sides are
// tested with services/common/request_id_cases.json): 1-128 of letters, digits and . _ : -
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// Forwarding headers a client could forge. The proxy drops whatever arrived under these
// names and sends only its own X-Forwarded-For/-Proto/-Host: flask-backend trusts one hop
// (TRUSTED_PROXIES=1) and so takes them as the truth about the browser.
const FORWARDING = ["forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
  "x-forwarded-port", "x-forwarded-prefix", "x-real-ip"];

function values(header) {
  const joined = Array.isArray(header) ? header.join(",") : (header ?? "");
  return joined.split(",").map((v) => v.trim()).filter(Boolean);
}

/**
 * Who the client is, as far as this server can tell: the socket's peer, its scheme and the
 * Host it asked for. With `trustedProxies` = N (WEBUI_TRUSTED_PROXIES, default 0 = none), the N
 * proxies in front of this server are believed: the client is the N-th X-Forwarded-For
 * entry from the right (what the outermost trusted proxy saw), likewise for -Proto and
 * -Host. Headers with fewer entries than N were not written by the trusted proxies and are
 * ignored.
 */
export function forwardedClient(req, trustedProxies = 0) {
  const seen = {
    for: req.socket.remoteAddress ?? "",
    proto: req.socket.encrypted ? "https" : "http",
    host: req.headers.host ?? "",
  };
  if (trustedProxies > 0) {
    for (const [key, header] of [["for", "x-forwarded-for"], ["proto", "x-forwarded-proto"], ["host", "x-forwarded-host"]]) {
      const chain = values(req.headers[header]);
      if (chain.length >= trustedProxies) seen[key] = chain[chain.length - trustedProxies];
    }
  }
  return seen;
}

/** Keeps a client's X-Request-ID when it is sane, otherwise makes one. */
export function requestId(req) {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
}

function sendError(res, status, code, message, rid) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(status).set("X-Request-ID", rid).json({ error: { code, message, details: {} } });
}

/**
 * Streams /api/* to the backend unchanged (path, query, body) and streams the answer back,
 * headers included, so the backend's cookies, Retry-After and its own CSP (Swagger UI) pass.
 * The forwarding headers are the exception: they are this server's own (forwardedClient).
 */
export function createApiProxy({ target, timeoutMs, metrics, trustedProxies = 0 }) {
  const base = new URL(target);
  const transport = base.protocol === "https:" ? https : http;
  const agent = new transport.Agent({ keepAlive: true, maxSockets: 64 });
  const basePath = base.pathname.replace(/\/+$/, "");

  return function apiProxy(req, res) {
    const rid = requestId(req);
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(k) && k !== "host" && !FORWARDING.includes(k)) headers[k] = v;
    }
    headers["x-request-id"] = rid;
    const client = forwardedClient(req, trustedProxies);
    headers["x-forwarded-for"] = client.for;
    headers["x-forwarded-proto"] = client.proto;
    headers["x-forwarded-host"] = client.host;
    headers.host = base.host;

    const upstream = transport.request(
      {
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port,
        method: req.method,
        path: basePath + req.originalUrl,
        headers,
        agent,
        timeout: timeoutMs,
      },
      (up) => {
        const out = {};
        for (const [k, v] of Object.entries(up.headers)) {
          if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
        }
        out["x-request-id"] = up.headers["x-request-id"] ?? rid;
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
      },
    );
    upstream.on("timeout", () => {
      metrics.proxyErrors.inc({ reason: "timeout" });
      upstream.destroy(new Error("upstream timeout"));
      sendError(res, 504, "upstream_timeout", "The backend did not answer in time.", rid);
    });
    upstream.on("error", (err) => {
      if (res.headersSent || res.writableEnded) return;
      metrics.proxyErrors.inc({ reason: err.code ?? "error" });
      sendError(res, 502, "upstream_unavailable", "The backend cannot be reached.", rid);
    });
    req.on("aborted", () => upstream.destroy());
    req.pipe(upstream);
  };
}

/** GET the backend's /healthz; true when it answers 200 within the time limit. */
export function backendHealthy(target, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const url = new URL("/healthz", target);
    const transport = url.protocol === "https:" ? https : http;
    const req = transport.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}
