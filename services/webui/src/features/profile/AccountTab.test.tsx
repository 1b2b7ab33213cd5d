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
const error = (status: number, code: string, message = code, details = {}) => ({ status, body: { error: { code, message, details } } });

describe("Profile: changing the e-mail", () => {
  it("asks for the current password and sends it with the new address", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    const fake = installFakeBackend({
      "PATCH /auth/me": (req) => ({ status: 200, body: { data: { ...adminUser, email: (req.body as { email: string }).email } } }),
    });
    restore = fake.restore;
    renderAt("/profile", routes);
    const user = userEvent.setup();
    const email = screen.getByLabelText("Email address");
    await user.clear(email);
    await user.type(email, "new@example.test");
    const save = screen.getByRole("button", { name: "Save email" });
    expect(save).toBeDisabled(); // no password yet
    expect(screen.queryByRole("button", { name: /authenticator code instead/ })).not.toBeInTheDocument();
    await user.type(screen.getByLabelText("Current password"), "secret-pass");
    await user.click(save);
    expect(await screen.findByRole("status")).toHaveTextContent("E-mail updated. A notice was sent to admin@example.test.");
    expect(fake.calls[0].body).toEqual({ email: "new@example.test", current_password: "secret-pass" });
    expect(useAuthStore.getState().user?.email).toBe("new@example.test");
    expect(screen.getByLabelText("Current password")).toHaveValue("");
  });

  it("puts a wrong password and a taken address next to their fields", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    let answer = error(400, "invalid_password", "the current password is wrong", { fields: { current_password: "wrong password" } });
    restore = installFakeBackend({ "PATCH /auth/me": () => answer }).restore;
    renderAt("/profile", routes);
    const user = userEvent.setup();
    await user.clear(screen.getByLabelText("Email address"));
    await user.type(screen.getByLabelText("Email address"), "new@example.test");
    await user.type(screen.getByLabelText("Current password"), "nope");
    await user.click(screen.getByRole("button", { name: "Save email" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The password is wrong.");
    expect(screen.getByLabelText("Current password")).toHaveAttribute("aria-invalid", "true");
    answer = error(409, "conflict", "that e-mail address is taken", { fields: { email: "already in use" } });
    await user.click(screen.getByRole("button", { name: "Save email" }));
    await waitFor(() => expect(screen.getByLabelText("Email address")).toHaveAttribute("aria-invalid", "true"));
    expect(screen.getByRole("alert")).toHaveTextContent("That e-mail address is already in use.");
    expect(useAuthStore.getState().user?.email).toBe("admin@example.test");
  });

  it("explains reauthentication_required and session_required", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
    let answer = error(422, "reauthentication_required", "confirm with your current password", { fields: { current_password: "required" } });
    restore = installFakeBackend({ "PATCH /auth/me": () => answer }).restore;
    renderAt("/profile", routes);
    const user = userEvent.setup();
    await user.clear(screen.getByLabelText("Email address"));
    await user.type(screen.getByLabelText("Email address"), "new@example.test");
    await user.type(screen.getByLabelText("Current password"), "x");
    await user.click(screen.getByRole("button", { name: "Save email" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Confirm with your current password.");
    answer = error(403, "session_required", "needs a session");
    await user.click(screen.getByRole("button", { name: "Save email" }));
    await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("API keys cannot make it"));
  });

  it("with two-factor on, takes an authenticator code instead of the password", async () => {
    useAuthStore.getState().setSession({ accessToken: "t", user: { ...adminUser, tf_enabled: true } });
    let answer: { status: number; body: unknown } = error(400, "invalid_totp", "the code is not valid", { fields: { totp: "wrong code" } });
    const fake = installFakeBackend({ "PATCH /auth/me": () => answer });
    restore = fake.restore;
    renderAt("/profile", routes);
    const user = userEvent.setup();
    await user.clear(screen.getByLabelText("Email address"));
    await user.type(screen.getByLabelText("Email address"), "new@example.test");
    await user.click(screen.getByRole("button", { name: "Confirm with an authenticator code instead" }));
    expect(screen.queryByLabelText("Current password")).not.toBeInTheDocument();
    await user.type(screen.getByLabelText("Code from your authenticator app"), " 123456 ");
    await user.click(screen.getByRole("button", { name: "Save email" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("That code is not valid.");
    expect(fake.calls[0].body).toEqual({ email: "new@example.test", totp: "123456" });
    answer = { status: 200, body: { data: { ...adminUser, tf_enabled: true, email: "new@example.test" } } };
    await user.click(screen.getByRole("button", { name: "Save email" }));
    expect(await screen.findByRole("status")).toHaveTextContent("E-mail updated.");
  });
});

describe("Profile: changing the password", () => {
  it("sends both passwords and carries on with the tokens the answer brings", async () => {
    useAuthStore.getState().setSession({ accessToken: "old-access", refreshToken: "old-refresh", user: adminUser });
    const fake = installFakeBackend({ "POST /auth/password": () => ({ status: 200, body: tokenBody("new-access", adminUser, "new-refresh") }) });
    restore = fake.restore;
    renderAt("/profile", routes);
    const user = userEvent.setup();
    await user.click(screen.getByRole("tab", { name: "Password" }));
    await user.type(screen.getByLabelText("Current password"), "old-pass");
    await user.type(screen.getByLabelText("New password"), "new-pass-123");
    await user.type(screen.getByLabelText("Repeat new password"), "new-pass-123");
    await user.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Password changed.");
    expect(fake.calls.filter((c) => c.url === "/auth/password").map((c) => [c.method, c.url, c.body])).toEqual([
      ["POST", "/auth/password", { current_password: "old-pass", new_password: "new-pass-123" }],
    ]);
    // The old access token no longer works: the store holds the new pair, not the old one.
    const { accessToken, refreshToken } = useAuthStore.getState();
    expect([accessToken, refreshToken]).toEqual(["new-access", "new-refresh"]);
  });

  it("keeps a remembered session's refresh token out of memory (it is the cookie)", async () => {
    useAuthStore.getState().setSession({ accessToken: "old-access", refreshToken: null, user: adminUser });
    restore = installFakeBackend({ "POST /auth/password": () => ({ status: 200, body: tokenBody("new-access", adminUser, null) }) }).restore;
    renderAt("/profile", routes);
    const user = userEvent.setup();
    await user.click(screen.getByRole("tab", { name: "Password" }));
    await user.type(screen.getByLabelText("Current password"), "old-pass");
    await user.type(screen.getByLabelText("New password"), "new-pass-123");
    await user.type(screen.getByLabelText("Repeat new password"), "new-pass-123");
    await user.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Password changed.");
    expect(useAuthStore.getState().accessToken).toBe("new-access");
    expect(useAuthStore.getState().refreshToken).toBeNull();
  });
});
