/**
 * OpenTelemetry tracing for the Express server, on only when an OTLP endpoint is configured.
 *
 * Imported first by index.js, so it runs before Express and the proxy are loaded. Off unless
 * OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and
 * OTEL_SDK_DISABLED is not true): then no OpenTelemetry package is even loaded and nothing
 * is patched.
 *
 * When on, @opentelemetry/sdk-node reads the standard variables itself (OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_PROTOCOL = http/protobuf (default) or grpc,
 * OTEL_TRACES_SAMPLER/_ARG, OTEL_BSP_*, OTEL_PROPAGATORS), and instruments:
 * - incoming HTTP (instrumentation-http): a server span per request, parent taken from the
 *   browser's W3C `traceparent` when it sends one; /healthz, /readyz and /metrics are not
 *   traced;
 * - the proxied request to flask-backend (instrumentation-http again, since proxy.js uses
 *   node:http): a client span, child of the server span, that injects `traceparent`;
 * - Express routing (instrumentation-express), which names the server span by route.
 * Only traces are exported: no metric reader or log processor is set up.
 *
 * Hand-written: the on/off decision (the SDK alone would start with its defaults whenever
 * loaded) and a flush on SIGTERM/SIGINT so the last spans leave before index.js exits.
 * The packages are CommonJS and loaded with require, synchronously: an `await import` here
 * would let index.js load Express before the instrumentation is in place.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export const SERVICE_NAME = "webui";
const ENDPOINT_VARIABLES = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"];
const UNTRACED_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

/** An OTLP endpoint is set and the SDK is not switched off. */
export function tracingEnabled(env = process.env) {
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return false;
  if ((env.OTEL_TRACES_EXPORTER ?? "").trim().toLowerCase() === "none") return false;
  return ENDPOINT_VARIABLES.some((name) => (env[name] ?? "").trim() !== "");
}

/** This service's name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES gives one. */
export function defaultServiceName(env = process.env) {
  if ((env.OTEL_SERVICE_NAME ?? "").trim()) return undefined;
  if (/(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? "")) return undefined;
  return SERVICE_NAME;
}

function untraced(path) {
  return UNTRACED_PATHS.has((path ?? "").split("?")[0]);
}

/** Starts the SDK when tracing is on; returns it (or null when off). */
export function startTracing(env = process.env) {
  if (!tracingEnabled(env)) return null;
  const { NodeSDK } = require("@opentelemetry/sdk-node");
  const { HttpInstrumentation } = require("@opentelemetry/instrumentation-http");
  const { ExpressInstrumentation } = require("@opentelemetry/instrumentation-express");
  const sdk = new NodeSDK({
    serviceName: defaultServiceName(env),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => untraced(req.url),
        // the readiness probe's own GET /healthz towards flask-backend
        ignoreOutgoingRequestHook: (options) => untraced(options.path),
      }),
      // route names only: a span per middleware would put five spans between the
      // server span and the proxied request, none of them telling anything
      new ExpressInstrumentation({ ignoreLayersType: ["middleware"] }),
    ],
  });
  sdk.start();
  // The instrumentations patch modules as they are require()d; index.js is an ES module,
  // whose imports of CommonJS packages bypass that hook. Requiring Express here puts the
  // patched copy in the module cache, which index.js's import then reuses.
  require("express");
  const flush = () => {
    sdk.shutdown().catch(() => {});
  };
  process.once("SIGTERM", flush);
  process.once("SIGINT", flush);
  return sdk;
}

export const tracing = startTracing();
