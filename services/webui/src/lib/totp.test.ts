// @vitest-environment node
import { describe, expect, it } from "vitest";
// The e2e run signs in with codes from this helper: check it against RFC 6238's vectors.
import { totp } from "../../e2e/totp.js";

describe("e2e TOTP helper", () => {
  it("matches the RFC 6238 SHA-1 test vectors", () => {
    // Secret "12345678901234567890" in base32.
    const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    expect(totp(secret, 59_000, 30, 8)).toBe("94287082");
    expect(totp(secret, 1_111_111_109_000, 30, 8)).toBe("07081804");
    expect(totp(secret, 20_000_000_000_000, 30, 8)).toBe("65353130");
  });
});
