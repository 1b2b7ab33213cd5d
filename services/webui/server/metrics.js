import client from "prom-client";

/** Prometheus metrics of the web UI server, on their own registry so tests can make several apps. */
export function createMetrics(version) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "webui_" });
  // prom-client names these gauges "..._total", which Prometheus reserves for counters
  // (promtool rejects them); the process/heap/event-loop metrics stay.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
    registry.removeSingleMetric(`webui_${name}`);
  }
  const requests = new client.Counter({
    name: "webui_http_requests_total",
    help: "HTTP requests served, by method, route class and status",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: "webui_http_request_duration_seconds",
    help: "HTTP request duration, by method and route class",
    labelNames: ["method", "route"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const proxyErrors = new client.Counter({
    name: "webui_proxy_errors_total",
    help: "Requests to the backend that failed before a response (connection refused, timeout)",
    labelNames: ["reason"],
    registers: [registry],
  });
  const buildInfo = new client.Gauge({
    name: "build_info",
    help: "Build information of the web UI server",
    labelNames: ["version", "service"],
    registers: [registry],
  });
  buildInfo.set({ version, service: "webui" }, 1);
  return { registry, requests, duration, proxyErrors };
}

/** A bounded label for a path: never the raw URL, which would grow without limit. */
export function routeClass(path) {
  if (path.startsWith("/api/")) return "/api";
  if (path.startsWith("/assets/")) return "/assets";
  if (["/healthz", "/readyz", "/metrics"].includes(path)) return path;
  return "spa";
}
