import express from "express";
import helmet from "helmet";
import compression from "compression";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createMetrics, routeClass } from "./metrics.js";
import { backendHealthy, createApiProxy } from "./proxy.js";

// The SPA loads only its own scripts, styles and images (QR codes are data: URLs);
// no inline script anywhere, so 'unsafe-inline' is never needed for scripts.
const APP_CSP = {
  useDefaults: false,
  directives: {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
  },
};

export function createApp(config) {
  const app = express();
  const metrics = createMetrics(config.version);
  app.disable("x-powered-by");
  // The same hop count the /api proxy uses to tell who the client is (0 = nobody).
  app.set("trust proxy", config.trustedProxies ?? 0);

  app.use((req, res, next) => {
    // Classified now: a mounted router rewrites req.path while it handles the request.
    const route = routeClass(req.path);
    const end = metrics.duration.startTimer({ method: req.method, route });
    res.on("finish", () => {
      end();
      metrics.requests.inc({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  });

  // The backend's Swagger UI brings its own inline bootstrap and CSP: pass it through untouched.
  const appHelmet = helmet({ contentSecurityPolicy: APP_CSP, crossOriginEmbedderPolicy: false });
  const docsHelmet = helmet({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false });
  app.use((req, res, next) => (req.path.startsWith("/api/v1/docs") ? docsHelmet : appHelmet)(req, res, next));
  app.use(compression());

  app.get("/healthz", (_req, res) => {
    res.set("Cache-Control", "no-store").json({ status: "ok", service: "webui", version: config.version });
  });
  app.get("/readyz", async (_req, res) => {
    const ok = await backendHealthy(config.flaskApiUrl);
    res.set("Cache-Control", "no-store").status(ok ? 200 : 503).json({
      status: ok ? "ready" : "not_ready",
      checks: { backend: ok ? "ok" : "unreachable" },
      version: config.version,
    });
  });
  app.get("/metrics", async (_req, res) => {
    res.set("Content-Type", metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.use(
    "/api",
    createApiProxy({
      target: config.flaskApiUrl,
      timeoutMs: config.proxyTimeoutMs,
      metrics,
      trustedProxies: config.trustedProxies ?? 0,
    }),
  );

  const index = join(config.distDir, "index.html");
  // Content-hashed files never change under one name: cache them for a year.
  app.use(
    "/assets",
    express.static(join(config.distDir, "assets"), {
      immutable: true,
      maxAge: "365d",
      index: false,
      fallthrough: false,
    }),
  );
  app.use(
    express.static(config.distDir, {
      index: false,
      setHeaders: (res) => res.setHeader("Cache-Control", "no-cache"),
    }),
  );
  // Client-side routes: every other GET that wants a page gets index.html, always revalidated.
  app.use((req, res, next) => {
    if ((req.method !== "GET" && req.method !== "HEAD") || !req.accepts("html")) return next();
    if (!existsSync(index)) {
      res.status(503).type("text").send("The web UI is not built: run services/webui/scripts/install.sh");
      return;
    }
    res.set("Cache-Control", "no-cache");
    res.sendFile(index);
  });
  app.use((req, res) => {
    res.status(404).json({ error: { code: "not_found", message: `No such path: ${req.path}`, details: {} } });
  });
  // Express error handler: an asset missing under /assets is a 404, anything else a clean 500.
  app.use((err, _req, res, _next) => {
    const status = err.status ?? err.statusCode ?? 500;
    res.status(status).json({
      error: { code: status === 404 ? "not_found" : "internal_error", message: status === 404 ? "Not found" : "Internal error", details: {} },
    });
  });
  return app;
}
