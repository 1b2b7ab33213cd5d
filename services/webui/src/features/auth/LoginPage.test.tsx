import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { LoginPage } from "./LoginPage";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, tokenBody } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
beforeEach(() => useAuthStore.getState().clear());
afterEach(() => restore());

const routes = [
  { path: "/login", element: <LoginPage /> },
  { path: "/dashboard", element: <p>dashboard</p> },
  { path: "/", element: <p>home</p> },
];

async function fillAndSubmit(email = "admin@example.test", password = "secret-pass") {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText("Email"), email);
  await user.type(screen.getByLabelText("Password"), password);
  await user.click(screen.getByRole("button", { name: "Sign in" }));
  return user;
}

describe("LoginPage", () => {
  it("starts empty, with a masked password field and a forgot-password link", () => {
    restore = installFakeBackend({}).restore;
    renderAt("/login", routes);
    expect(screen.getByLabelText("Email")).toHaveValue("");
    expect(screen.getByLabelText("Password")).toHaveAttribute("type", "password");
    expect(screen.getByLabelText("Password")).toHaveValue("");
    expect(screen.getByRole("link", { name: "Forgot password?" })).toHaveAttribute("href", "/forgot-password");
  });

  it("shows a clear error on bad credentials", async () => {
    restore = installFakeBackend({
      "POST /auth/login": () => ({ status: 401, body: { error: { code: "invalid_credentials", message: "x" } } }),
    }).restore;
    renderAt("/login", routes);
    await fillAndSubmit();
    expect(await screen.findByRole("alert")).toHaveTextContent("Email or password is incorrect.");
    expect(useAuthStore.getState().status).toBe("anonymous");
  });

  it("tells when to retry after a 429", async () => {
    restore = installFakeBackend({
      "POST /auth/login": () => ({ status: 429, headers: { "retry-after": "30" }, body: { error: { code: "rate_limited", message: "x", details: { retry_after: 30 } } } }),
    }).restore;
    renderAt("/login", routes);
    await fillAndSubmit();
    expect(await screen.findByRole("alert")).toHaveTextContent(/Try again in 30 seconds/);
  });

  it("asks for a TOTP code when the account has 2FA and re-posts with it", async () => {
    const fake = installFakeBackend({
      "POST /auth/login": (req) => {
        const body = req.body as { totp?: string };
        if (!body.totp) return { status: 401, body: { error: { code: "totp_required", message: "x" } } };
        return body.totp === "123456" ? { status: 200, body: tokenBody("acc") } : { status: 401, body: { error: { code: "invalid_totp", message: "x" } } };
      },
    });
    restore = fake.restore;
    renderAt("/login", routes);
    const user = await fillAndSubmit();
    const code = await screen.findByLabelText("Authentication code");
    await user.type(code, "000000");
    await user.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("That code is not valid");
    await user.clear(code);
    await user.type(code, "123456");
    await user.click(screen.getByRole("button", { name: "Verify" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/"));
    expect(fake.calls.at(-1)?.body).toMatchObject({ email: "admin@example.test", password: "secret-pass", totp: "123456" });
  });

  it("says to wait for the next code when the TOTP code was already used", async () => {
    restore = installFakeBackend({
      "POST /auth/login": (req) =>
        (req.body as { totp?: string }).totp
          ? { status: 401, body: { error: { code: "totp_reused", message: "this code was already used" } } }
          : { status: 401, body: { error: { code: "totp_required", message: "x" } } },
    }).restore;
    renderAt("/login", routes);
    const user = await fillAndSubmit();
    await user.type(await screen.findByLabelText("Authentication code"), "123456");
    await user.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("That code was already used. Wait for the next code");
    expect(screen.getByLabelText("Authentication code")).toBeInTheDocument();
    expect(useAuthStore.getState().status).toBe("anonymous");
  });

  it("asks for the refresh cookie when remembered and keeps the token in memory otherwise", async () => {
    const fake = installFakeBackend({
      "POST /auth/login": (req) => {
        const cookie = (req.body as { refresh_cookie: boolean }).refresh_cookie;
        return { status: 200, body: tokenBody("acc", adminUser, cookie ? null : "ref-in-body") };
      },
    });
    restore = fake.restore;
    renderAt("/login", routes);
    const user = userEvent.setup();
    await user.click(screen.getByLabelText("Remember me"));
    await fillAndSubmit();
    await waitFor(() => expect(useAuthStore.getState().status).toBe("authenticated"));
    expect(fake.calls[0].body).toMatchObject({ refresh_cookie: false });
    expect(useAuthStore.getState().refreshToken).toBe("ref-in-body");
    expect(useAuthStore.getState().accessToken).toBe("acc");
    expect(window.localStorage.length).toBe(0);
    expect(window.sessionStorage.length).toBe(0);
  });
});
