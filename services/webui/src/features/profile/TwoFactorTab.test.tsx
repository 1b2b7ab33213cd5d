import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import ProfilePage from "./ProfilePage";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, tokenBody } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
beforeEach(() => useAuthStore.getState().clear());
afterEach(() => restore());

const routes = [{ path: "/profile", element: <ProfilePage /> }];
const error = (status: number, code: string, message = code) => ({ status, body: { error: { code, message } } });

async function openTab(user: ReturnType<typeof userEvent.setup>) {
  await user.click(screen.getByRole("tab", { name: "Two-factor" }));
}

describe("Profile: two-factor", () => {
  it("asks for the password before enrolment, then confirms with a code and shows the recovery codes", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    let tfOn = false;
    const fake = installFakeBackend({
      "POST /auth/2fa/setup": (req) =>
        (req.body as { password?: string }).password === "secret-pass"
          ? { status: 200, body: { data: { secret: "JBSWY3DPEHPK3PXP", otpauth_uri: "otpauth://totp/Rookery:admin?secret=JBSWY3DPEHPK3PXP" } } }
          : { status: 400, body: { error: { code: "invalid_password", message: "the current password is wrong" } } },
      "POST /auth/2fa/confirm": () => { tfOn = true; return { status: 200, body: { data: { recovery_codes: ["aaaa-bbbb", "cccc-dddd"] } } }; },
      "GET /auth/me": () => ({ status: 200, body: { data: { ...adminUser, tf_enabled: tfOn } } }),
    });
    restore = fake.restore;
    renderAt("/profile", routes);
    const user = userEvent.setup();
    await openTab(user);
    const start = screen.getByRole("button", { name: "Set up two-factor" });
    expect(start).toBeDisabled();
    await user.type(screen.getByLabelText("Password"), "wrong");
    await user.click(start);
    expect(await screen.findByRole("alert")).toHaveTextContent("The password is wrong.");
    expect(fake.calls[0]).toMatchObject({ url: "/auth/2fa/setup", body: { password: "wrong" } });
    await user.clear(screen.getByLabelText("Password"));
    await user.type(screen.getByLabelText("Password"), "secret-pass");
    await user.click(start);
    expect(await screen.findByTestId("totp-secret")).toHaveTextContent("JBSWY3DPEHPK3PXP");
    await user.type(screen.getByLabelText("Code from your app"), "123456");
    await user.click(screen.getByRole("button", { name: "Turn on two-factor" }));
    expect(await screen.findByTestId("recovery-codes")).toHaveTextContent("aaaa-bbbb");
    expect(fake.calls.find((c) => c.url === "/auth/2fa/confirm")?.body).toEqual({ code: "123456" });
    await waitFor(() => expect(useAuthStore.getState().user?.tf_enabled).toBe(true));
    // Now enabled: the disable form replaces the set-up one.
    expect(screen.getByRole("button", { name: "Disable two-factor" })).toBeInTheDocument();
  });

  it("turns two-factor off with the password and a code, explaining each refusal", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...adminUser, tf_enabled: true } });
    const fake = installFakeBackend({
      "POST /auth/2fa/disable": (req) => {
        const { password, totp } = req.body as { password: string; totp: string };
        if (password !== "secret-pass") return error(400, "invalid_password", "the password is wrong");
        if (totp === "111111") return error(401, "totp_reused", "this code was already used");
        if (totp !== "abcd-efgh") return error(401, "invalid_totp", "the code is not valid");
        return { status: 200, body: { data: { message: "two-factor authentication is off" } } };
      },
      "POST /auth/refresh": () => ({ status: 200, body: tokenBody("t2", { ...adminUser, tf_enabled: true }) }),
      "GET /auth/me": () => ({ status: 200, body: { data: { ...adminUser, tf_enabled: false } } }),
    });
    restore = fake.restore;
    renderAt("/profile", routes);
    const user = userEvent.setup();
    await openTab(user);
    const disable = screen.getByRole("button", { name: "Disable two-factor" });
    const password = screen.getByLabelText("Password");
    const code = screen.getByLabelText("Authenticator or recovery code");
    await user.type(password, "wrong");
    expect(disable).toBeDisabled(); // both factors are needed
    await user.type(code, "111111");
    await user.click(disable);
    expect(await screen.findByRole("alert")).toHaveTextContent("The password is wrong.");
    expect(password).toHaveAttribute("aria-invalid", "true");
    await user.clear(password);
    await user.type(password, "secret-pass");
    await user.click(disable);
    await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("Wait for the next code"));
    expect(code).toHaveAttribute("aria-invalid", "true");
    await user.clear(code);
    await user.type(code, "000000");
    await user.click(disable);
    await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("That code is not valid"));
    await user.clear(code);
    await user.type(code, "abcd-efgh");
    await user.click(disable);
    expect(await screen.findByText("Two-factor authentication is off.")).toBeInTheDocument();
    await waitFor(() => expect(useAuthStore.getState().user?.tf_enabled).toBe(false));
    const posts = fake.calls.filter((c) => c.url === "/auth/2fa/disable").map((c) => c.body);
    expect(posts.at(-1)).toEqual({ password: "secret-pass", totp: "abcd-efgh" });
    expect(screen.getByRole("button", { name: "Set up two-factor" })).toBeInTheDocument();
  });
});
