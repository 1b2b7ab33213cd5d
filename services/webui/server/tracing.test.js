// @vitest-environment node
import { describe, expect, it } from "vitest";
import { createRequire } from "node:module";
import { defaultServiceName, tracing, tracingEnabled } from "./tracing.js";

describe("tracing switch", () => {
  it("is on only with an OTLP endpoint and the SDK not disabled", () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_SERVICE_NAME: "webui", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "  " })).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" })).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" })).toBe(false);
  });

  it.skipIf(tracingEnabled())("starts nothing and loads no SDK when off", () => {
    expect(tracing).toBeNull();
    const require = createRequire(import.meta.url);
    const sdk = require.resolve("@opentelemetry/sdk-node");
    expect(Object.keys(require.cache)).not.toContain(sdk);
  });

  it("names the service webui unless the environment names it", () => {
    expect(defaultServiceName({})).toBe("webui");
    expect(defaultServiceName({ OTEL_SERVICE_NAME: "edge" })).toBeUndefined();
    expect(defaultServiceName({ OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod,service.name=edge" })).toBeUndefined();
    expect(defaultServiceName({ OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod" })).toBe("webui");
  });
});
