import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { restoreSession } from "./session";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, tokenBody } from "../../test/fake-backend";

let restore = () => {};
beforeEach(() => useAuthStore.setState({ status: "unknown", user: null, accessToken: null, refreshToken: null, endReason: null }));
afterEach(() => restore());

describe("restoreSession (a page load, such as the return from single sign-on)", () => {
  it("trades the refresh cookie for an access token: the app comes up signed in", async () => {
    const fake = installFakeBackend({ "POST /auth/refresh": () => ({ status: 200, body: tokenBody("acc-from-cookie", adminUser) }) });
    restore = fake.restore;
    await expect(restoreSession()).resolves.toBe(true);
    // Nothing in memory: the cookie the callback set is what the backend reads.
    expect(fake.calls[0]).toMatchObject({ method: "POST", url: "/auth/refresh", body: {} });
    expect(useAuthStore.getState()).toMatchObject({ status: "authenticated", accessToken: "acc-from-cookie", refreshToken: null, user: adminUser });
  });

  it("ends anonymous (not expired) when there is no cookie", async () => {
    restore = installFakeBackend({ "POST /auth/refresh": () => ({ status: 401, body: { error: { code: "invalid_refresh", message: "no refresh token" } } }) }).restore;
    await expect(restoreSession()).resolves.toBe(false);
    expect(useAuthStore.getState()).toMatchObject({ status: "anonymous", endReason: null });
  });
});
