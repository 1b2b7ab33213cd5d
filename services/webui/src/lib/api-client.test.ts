import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { api, getData, signOut } from "./api-client";
import { ApiError } from "./api-error";
import { useAuthStore } from "./auth-store";
import { adminUser, installFakeBackend, tokenBody } from "../test/fake-backend";

let restore = () => {};
beforeEach(() => useAuthStore.getState().clear());
afterEach(() => restore());

describe("api client", () => {
  it("sends the in-memory access token as a Bearer header", async () => {
    const fake = installFakeBackend({ "GET /auth/me": () => ({ status: 200, body: { data: adminUser } }) });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "tok-1", user: adminUser });
    await getData("/auth/me");
    expect(fake.calls[0].headers.get("Authorization")).toBe("Bearer tok-1");
  });

  it("refreshes once on 401 and retries the request with the new token", async () => {
    const fake = installFakeBackend({
      "GET /users": (req) =>
        req.headers.get("Authorization") === "Bearer fresh"
          ? { status: 200, body: { data: [] } }
          : { status: 401, body: { error: { code: "token_expired", message: "expired" } } },
      "POST /auth/refresh": () => ({ status: 200, body: tokenBody("fresh") }),
    });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "stale", user: adminUser });
    await expect(getData("/users")).resolves.toEqual([]);
    expect(fake.calls.map((c) => `${c.method} ${c.url}`)).toEqual(["GET /users", "POST /auth/refresh", "GET /users"]);
    expect(useAuthStore.getState().accessToken).toBe("fresh");
    // Cookie mode: no token in the body, the browser sends the httpOnly cookie.
    expect(fake.calls[1].body).toEqual({});
  });

  it("shares one refresh between concurrent 401s (rotation would reject a second)", async () => {
    let refreshes = 0;
    const fake = installFakeBackend({
      "GET /a": (r) => (r.headers.get("Authorization") === "Bearer new" ? { status: 200, body: { data: "a" } } : { status: 401, body: { error: { code: "x", message: "x" } } }),
      "GET /b": (r) => (r.headers.get("Authorization") === "Bearer new" ? { status: 200, body: { data: "b" } } : { status: 401, body: { error: { code: "x", message: "x" } } }),
      "POST /auth/refresh": async () => {
        refreshes++;
        await new Promise((r) => setTimeout(r, 20));
        return { status: 200, body: tokenBody("new") };
      },
    });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "old", user: adminUser });
    await expect(Promise.all([getData("/a"), getData("/b")])).resolves.toEqual(["a", "b"]);
    expect(refreshes).toBe(1);
  });

  it("sends a memory-held refresh token in the body and keeps the rotated one", async () => {
    const fake = installFakeBackend({
      "POST /auth/refresh": () => ({ status: 200, body: tokenBody("acc-2", adminUser, "ref-2") }),
      "GET /x": (r) => (r.headers.get("Authorization") === "Bearer acc-2" ? { status: 200, body: { data: 1 } } : { status: 401, body: { error: { code: "e", message: "e" } } }),
    });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "acc-1", refreshToken: "ref-1", user: adminUser });
    await getData("/x");
    expect(fake.calls[1].body).toEqual({ refresh_token: "ref-1" });
    expect(useAuthStore.getState().refreshToken).toBe("ref-2");
  });

  it("ends the session when the refresh token is spent", async () => {
    const fake = installFakeBackend({
      "GET /users": () => ({ status: 401, body: { error: { code: "token_expired", message: "expired" } } }),
      "POST /auth/refresh": () => ({ status: 401, body: { error: { code: "invalid_refresh", message: "spent" } } }),
    });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "stale", user: adminUser });
    const err = (await getData("/users").catch((e) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(401);
    expect(useAuthStore.getState().status).toBe("anonymous");
    expect(useAuthStore.getState().accessToken).toBeNull();
  });

  it("never refreshes on a failed login and maps the error envelope", async () => {
    const fake = installFakeBackend({
      "POST /auth/login": () => ({ status: 401, body: { error: { code: "invalid_credentials", message: "bad", details: {} } } }),
    });
    restore = fake.restore;
    const err = await api.post("/auth/login", {}).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe("invalid_credentials");
    expect(fake.calls).toHaveLength(1);
  });

  it("does not refresh when a 401 says the typed code was already used", async () => {
    const fake = installFakeBackend({
      "POST /auth/2fa/disable": () => ({ status: 401, body: { error: { code: "totp_reused", message: "already used" } } }),
    });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "ok", user: adminUser });
    const err = (await api.post("/auth/2fa/disable", {}).catch((e) => e)) as ApiError;
    expect(err.code).toBe("totp_reused");
    expect(fake.calls.map((c) => c.url)).toEqual(["/auth/2fa/disable"]);
  });

  it("does not refresh when a 401 judges typed credentials (wrong TOTP on an authenticated call)", async () => {
    const fake = installFakeBackend({
      "POST /auth/2fa/disable": () => ({ status: 401, body: { error: { code: "invalid_credentials", message: "wrong password" } } }),
    });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "ok", user: adminUser });
    const err = (await api.post("/auth/2fa/disable", {}).catch((e) => e)) as ApiError;
    expect(err.code).toBe("invalid_credentials");
    expect(fake.calls.map((c) => c.url)).toEqual(["/auth/2fa/disable"]);
    expect(useAuthStore.getState().status).toBe("authenticated");
  });

  it("ignores a refresh answered after sign-out (it must not revive the session)", async () => {
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const fake = installFakeBackend({
      "GET /x": () => ({ status: 401, body: { error: { code: "invalid_token", message: "expired" } } }),
      "POST /auth/refresh": async () => {
        await gate;
        return { status: 200, body: tokenBody("revived") };
      },
    });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "old", user: adminUser });
    const pending = getData("/x").catch((e) => e);
    await new Promise((r) => setTimeout(r, 10));
    useAuthStore.getState().clear(); // the user signed out meanwhile
    release();
    await pending;
    expect(useAuthStore.getState().status).toBe("anonymous");
    expect(useAuthStore.getState().accessToken).toBeNull();
  });

  it("signs out with an expired access token by refreshing first, so the server revokes", async () => {
    const fake = installFakeBackend({
      "POST /auth/logout": (r) =>
        r.headers.get("Authorization") === "Bearer fresh"
          ? { status: 200, body: { data: null } }
          : { status: 401, body: { error: { code: "invalid_token", message: "expired" } } },
      "POST /auth/refresh": () => ({ status: 200, body: tokenBody("fresh") }),
    });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "expired", user: adminUser });
    await signOut();
    expect(fake.calls.map((c) => `${c.method} ${c.url}`)).toEqual(["POST /auth/logout", "POST /auth/refresh", "POST /auth/logout"]);
    expect(useAuthStore.getState().status).toBe("anonymous");
  });

  it("does not refresh other calls while signing out", async () => {
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const fake = installFakeBackend({
      "POST /auth/logout": async () => {
        await gate;
        return { status: 200, body: { data: null } };
      },
      "GET /users": () => ({ status: 401, body: { error: { code: "invalid_token", message: "expired" } } }),
      "POST /auth/refresh": () => ({ status: 200, body: tokenBody("revived") }),
    });
    restore = fake.restore;
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    const out = signOut();
    await new Promise((r) => setTimeout(r, 10));
    const err = (await getData("/users").catch((e) => e)) as ApiError;
    release();
    await out;
    expect(err.status).toBe(401);
    expect(fake.calls.some((c) => c.url === "/auth/refresh")).toBe(false);
    expect(useAuthStore.getState().status).toBe("anonymous");
  });

  it("reads Retry-After from a 429", async () => {
    const fake = installFakeBackend({
      "POST /auth/login": () => ({ status: 429, headers: { "retry-after": "42" }, body: { error: { code: "rate_limited", message: "slow down", details: {} } } }),
    });
    restore = fake.restore;
    const err = await api.post("/auth/login", {}).catch((e) => e);
    expect(err.code).toBe("rate_limited");
    expect(err.retryAfter).toBe(42);
  });

  it("exposes per-field validation messages", async () => {
    const fake = installFakeBackend({
      "POST /rules": () => ({ status: 422, body: { error: { code: "validation_error", message: "invalid", details: { fields: { src: "not a CIDR" } } } } }),
    });
    restore = fake.restore;
    const err = await api.post("/rules", {}).catch((e) => e);
    expect(err.fieldErrors).toEqual({ src: "not a CIDR" });
  });
});
