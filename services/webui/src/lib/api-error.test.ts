import { describe, expect, it } from "vitest";
import { ApiError, isFeatureNotLicensed, plainFieldMessage, toApiError } from "./api-error";
import { AxiosError, AxiosHeaders } from "axios";
import { downloadFromApi } from "./download";
import { installFakeBackend } from "../test/fake-backend";

const validation = (fields: Record<string, string>, message = "invalid body: " + Object.keys(fields).join(", ")) =>
  new ApiError(422, { code: "validation_error", message, details: { fields } });

describe("API errors in plain language", () => {
  it("turns a validation error into sentences naming the fields, not 'invalid body: email, password'", () => {
    const err = validation({ email: "value is not a valid email address: An email address must have an @-sign.", password: "Field required" });
    expect(err.message).toBe("E-mail: Enter a valid e-mail address, like name@example.com. Password: This field is required.");
    expect(err.message).not.toMatch(/invalid body/);
    expect(err.serverMessage).toBe("invalid body: email, password");
    expect(err.fieldErrors).toEqual({
      email: "Enter a valid e-mail address, like name@example.com.",
      password: "This field is required.",
    });
  });

  it("rewrites pydantic's words", () => {
    expect(plainFieldMessage("String should match pattern '^[A-Za-z0-9_.-]+$'", "name")).toBe(
      "Use only letters, digits, dots (.), dashes (-) and underscores (_), no spaces.",
    );
    expect(plainFieldMessage("List should have at least 1 item after validation, not 0", "scopes")).toBe("Choose at least one scope.");
    expect(plainFieldMessage("Value error, '10.0.0.300/8' is not an IPv4 or IPv6 address or CIDR", "src.0")).toBe(
      "“10.0.0.300/8” is not an IP address or network. Use a form like 10.0.0.0/8, 192.168.1.10 or 2001:db8::/32.",
    );
    expect(plainFieldMessage("Value error, '70000' must be N or N-M within 1-65535 with N <= M", "dst_ports.0")).toMatch(/“70000” is not a port or port range/);
    expect(plainFieldMessage("Input should be less than or equal to 4095", "vlan")).toBe("Use a number no greater than 4095.");
    expect(plainFieldMessage("Input should be 'allow', 'drop' or 'count'", "action")).toBe("Choose one of: allow, drop, count.");
    expect(plainFieldMessage("String should have at most 100 characters", "name")).toBe("Use at most 100 characters.");
    expect(plainFieldMessage("Value error, ports need protocol tcp, udp or any", "body")).toBe("Ports only apply to the protocols tcp, udp or any.");
    // Words we do not know are shown as they are.
    expect(plainFieldMessage("already in use", "email")).toBe("already in use");
  });

  it("groups field errors by form field and keeps rule-wide ones apart", () => {
    const err = validation({ "src.0": "Value error, 'x' is not an IPv4 or IPv6 address or CIDR", "src.1": "Value error, 'y' is not an IPv4 or IPv6 address or CIDR", body: "Value error, ports need protocol tcp, udp or any" });
    const grouped = err.fieldErrorsFor(["src", "dst"]);
    expect(grouped.src).toMatch(/^“x” is not .* “y” is not /);
    expect(grouped[""]).toBe("Ports only apply to the protocols tcp, udp or any.");
    expect(err.message).toMatch(/^Source CIDRs: “x”/);
  });

  it("speaks plainly for codes meant for programs", () => {
    expect(new ApiError(403, { code: "insufficient_scope", message: "needs scope 'audit:read'", details: { required: "audit:read" } }).message).toBe(
      "Your account is not allowed to do this (it needs the “audit:read” permission). Ask an administrator if you need it.",
    );
    expect(new ApiError(0, { code: "network_error", message: "x" }).message).toMatch(/cannot be reached/);
    expect(new ApiError(500, { code: "internal_error", message: "internal server error" }).message).toMatch(/^Something went wrong/);
    // Messages written for people stay as the server wrote them.
    expect(new ApiError(403, { code: "forbidden", message: "you cannot deactivate yourself" }).message).toBe("you cannot deactivate yourself");
  });
});

describe("a feature the licence does not include", () => {
  const body = { code: "feature_not_licensed", message: "single sign-on (sso_oidc) needs the professional or enterprise tier; this licence is community" };

  it("keeps the server's words (they name the feature and the tier) and says who can fix it", () => {
    const err = new ApiError(403, body);
    expect(err.message).toBe(
      "Not included in this installation's licence: Single sign-on (sso_oidc) needs the professional or enterprise tier; this licence is community. An administrator can install a licence that includes it (Administration → Licence).",
    );
    expect(err.serverMessage).toBe(body.message);
    expect(isFeatureNotLicensed(err)).toBe(true);
    expect(isFeatureNotLicensed(new ApiError(403, { code: "insufficient_scope", message: "x" }))).toBe(false);
  });

  it("is recognised from any request's 403 answer", () => {
    const config = { headers: new AxiosHeaders(), url: "/audit/export" };
    const response = { status: 403, statusText: "FORBIDDEN", headers: {}, config, data: { error: body } };
    const err = toApiError(new AxiosError("403", AxiosError.ERR_BAD_REQUEST, config, null, response));
    expect(err.code).toBe("feature_not_licensed");
    expect(err.message).toMatch(/^Not included in this installation's licence: Single sign-on \(sso_oidc\) needs the professional/);
  });
});

describe("a download refused by the licence", () => {
  it("reads the code and message out of the error answer that came as a file", async () => {
    const body = { error: { code: "feature_not_licensed", message: "audit log export (audit_export) needs the professional or enterprise tier" } };
    const fake = installFakeBackend({
      "GET /audit/export": () => ({ status: 403, body: new Blob([JSON.stringify(body)], { type: "application/json" }) }),
      "GET /users/export": () => ({ status: 502, body: new Blob(["<html>bad gateway</html>"], { type: "text/html" }) }),
    });
    try {
      const err = await downloadFromApi("/audit/export", {}, "audit.csv").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject({ status: 403, code: "feature_not_licensed", serverMessage: body.error.message });
      expect((err as ApiError).message).toMatch(/^Not included in this installation's licence: Audit log export \(audit_export\) needs the professional or enterprise tier\./);
      // Not JSON: the status says what it can.
      const other = await downloadFromApi("/users/export", {}, "users.csv").catch((e: unknown) => e);
      expect(other).toMatchObject({ status: 502, code: "http_error" });
      expect((other as ApiError).message).toMatch(/temporarily unavailable/);
    } finally {
      fake.restore();
    }
  });
});
