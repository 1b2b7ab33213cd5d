import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import { QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import userEvent from "@testing-library/user-event";
import { LoginPage } from "./LoginPage";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, tokenBody } from "../../test/fake-backend";
import { renderAt } from "../../test/render";
import { createQueryClient } from "../../lib/query-client";
import { ssoErrorMessage } from "./sso-errors";

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
    expect(fake.calls.find((c) => c.url === "/auth/login")?.body).toMatchObject({ refresh_cookie: false });
    expect(useAuthStore.getState().refreshToken).toBe("ref-in-body");
    expect(useAuthStore.getState().accessToken).toBe("acc");
    expect(window.localStorage.length).toBe(0);
    expect(window.sessionStorage.length).toBe(0);
  });
});

const sso = (over: Record<string, unknown> = {}) => () => ({
  status: 200,
  body: { data: { enabled: true, provider_name: "Acme ID", login_url: "/api/v1/auth/sso/login", required: false, ...over } },
});

function Search() {
  const loc = useLocation();
  return <p data-testid="search">{loc.search}</p>;
}

/** The login page at `url`, with the router state the guard would hand it. */
function renderLogin(url: string, state?: unknown) {
  return render(
    <QueryClientProvider client={createQueryClient()}>
      <MemoryRouter initialEntries={[{ pathname: url.split("?")[0], search: url.includes("?") ? `?${url.split("?")[1]}` : "", state }]}>
        <Routes>
          <Route path="/login" element={<><LoginPage /><Search /></>} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe("LoginPage: single sign-on", () => {
  it("offers no provider button when the backend says single sign-on is off (or cannot say)", async () => {
    const fake = installFakeBackend({ "GET /auth/sso": sso({ enabled: false }) });
    restore = fake.restore;
    const first = renderLogin("/login");
    await waitFor(() => expect(fake.calls.some((c) => c.url === "/auth/sso")).toBe(true));
    expect(screen.queryByRole("link", { name: /Sign in with/ })).not.toBeInTheDocument();
    first.unmount();
    restore();
    const down = installFakeBackend({ "GET /auth/sso": () => ({ status: 500, body: { error: { code: "internal_error", message: "x" } } }) });
    restore = down.restore;
    renderLogin("/login");
    await waitFor(() => expect(down.calls.some((c) => c.url === "/auth/sso")).toBe(true));
    expect(screen.getByRole("button", { name: "Sign in" })).toHaveClass("btn-primary");
    expect(screen.queryByRole("link", { name: /Sign in with/ })).not.toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });

  it("links to the provider's sign-in with where the user was going, next to the password form", async () => {
    restore = installFakeBackend({ "GET /auth/sso": sso() }).restore;
    renderLogin("/login", { from: "/users?q=ann" });
    const link = await screen.findByRole("link", { name: "Sign in with Acme ID" });
    expect(link).toHaveAttribute("href", "/api/v1/auth/sso/login?next=%2Fusers%3Fq%3Dann");
    expect(link).toHaveClass("btn-secondary");
    expect(screen.getByRole("button", { name: "Sign in" })).toHaveClass("btn-primary");
    expect(screen.getByLabelText("Password")).toBeInTheDocument();
  });

  it("sends the user home after the provider when they were going nowhere in particular", async () => {
    restore = installFakeBackend({ "GET /auth/sso": sso() }).restore;
    renderLogin("/login");
    expect(await screen.findByRole("link", { name: "Sign in with Acme ID" })).toHaveAttribute("href", "/api/v1/auth/sso/login?next=%2F");
  });

  it("makes the provider the way in when single sign-on is required; the password form stays for break-glass admins", async () => {
    restore = installFakeBackend({ "GET /auth/sso": sso({ required: true }) }).restore;
    renderLogin("/login");
    const link = await screen.findByRole("link", { name: "Sign in with Acme ID" });
    expect(link).toHaveClass("btn-primary");
    expect(screen.getByRole("button", { name: "Sign in" })).toHaveClass("btn-secondary");
    expect(screen.getByRole("form", { name: "Administrator emergency access" })).toBeInTheDocument();
    expect(screen.getByText(/only for administrators allowed to bypass it/)).toBeInTheDocument();
    // The link comes first in the reading order.
    expect(link.compareDocumentPosition(screen.getByLabelText("Email")) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
  });

  it.each([
    ["state_mismatch", /expired or was started in another tab or browser/],
    ["provider_unavailable", /identity provider cannot be reached right now/],
    ["invalid_id_token", /answer could not be verified/],
    ["access_denied", /cancelled or refused at the identity provider/],
    ["no_role", /not in a group that gives access to Rookery/],
    ["email_unverified", /e-mail address is not verified at the identity provider/],
    ["seat_limit_reached", /every seat of the Rookery licence is in use/],
    ["sso_disabled", /Single sign-on is not enabled on this server/],
    ["something_new", /^Single sign-on failed, so you were not signed in/],
  ])("explains ?sso_error=%s and takes it out of the address", async (code, text) => {
    restore = installFakeBackend({ "GET /auth/sso": sso() }).restore;
    renderLogin(`/login?sso_error=${code}&keep=1`);
    expect(await screen.findByRole("alert")).toHaveTextContent(text);
    await waitFor(() => expect(screen.getByTestId("search")).toHaveTextContent(/^\?keep=1$/));
    // Still shown after the address changed.
    expect(screen.getByRole("alert")).toHaveTextContent(text);
  });

  it("points to the provider when the server refuses password sign-in for this account", async () => {
    restore = installFakeBackend({
      "GET /auth/sso": sso({ required: true }),
      "POST /auth/login": () => ({ status: 403, body: { error: { code: "sso_required", message: "password login is turned off: sign in with single sign-on", details: { login_url: "/api/v1/auth/sso/login" } } } }),
    }).restore;
    renderLogin("/login");
    await screen.findByRole("link", { name: "Sign in with Acme ID" });
    await fillAndSubmit("ann@example.test");
    expect(await screen.findByRole("alert")).toHaveTextContent("Password sign-in is turned off on this server: use “Sign in with Acme ID” instead.");
    expect(useAuthStore.getState().status).toBe("anonymous");
  });

  it("has a distinct message for every code of the contract", () => {
    const codes = ["state_mismatch", "provider_unavailable", "invalid_id_token", "access_denied", "no_role", "email_unverified", "seat_limit_reached", "sso_disabled"];
    const texts = new Set(codes.map(ssoErrorMessage));
    expect(texts.size).toBe(codes.length);
    expect(texts.has(ssoErrorMessage("toString"))).toBe(false);
    expect(ssoErrorMessage("toString")).toBe(ssoErrorMessage("unknown"));
  });

  it("leaves an address without sso_error alone", async () => {
    restore = installFakeBackend({ "GET /auth/sso": sso() }).restore;
    renderLogin("/login?keep=1");
    await screen.findByRole("link", { name: "Sign in with Acme ID" });
    expect(screen.getByTestId("search")).toHaveTextContent("?keep=1");
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });
});
