import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import ProfilePage from "./ProfilePage";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
beforeEach(() => useAuthStore.getState().setSession({ accessToken: "t", user: adminUser }));
afterEach(() => {
  restore();
  vi.restoreAllMocks();
});

function backend() {
  let tfOn = false;
  const fake = installFakeBackend({
    "POST /auth/2fa/setup": () => ({ status: 200, body: { data: { secret: "JBSWY3DPEHPK3PXP", otpauth_uri: "otpauth://totp/Rookery:admin?secret=JBSWY3DPEHPK3PXP" } } }),
    "POST /auth/2fa/confirm": () => { tfOn = true; return { status: 200, body: { data: { recovery_codes: ["aaaa-bbbb", "cccc-dddd"] } } }; },
    "GET /auth/me": () => ({ status: 200, body: { data: { ...adminUser, tf_enabled: tfOn } } }),
  });
  restore = fake.restore;
}

async function enrol() {
  renderAt("/profile", [{ path: "/profile", element: <ProfilePage /> }]);
  const user = userEvent.setup();
  await user.click(screen.getByRole("tab", { name: "Two-factor" }));
  await user.type(screen.getByLabelText("Password"), "secret-pass");
  await user.click(screen.getByRole("button", { name: "Set up two-factor" }));
  const code = await screen.findByLabelText("Code from your app");
  return { user, code };
}

describe("Profile: after two-factor enrolment", { timeout: 20_000 }, () => {
  it("moves focus to the code input, not the page body", async () => {
    backend();
    const { code } = await enrol();
    await waitFor(() => expect(code).toHaveFocus());
    expect(document.activeElement).not.toBe(document.body);
  });

  it("lets the recovery codes be copied and downloaded, and closes only on “I have saved them”", async () => {
    backend();
    const { user, code } = await enrol();
    await user.type(code, "123456");
    await user.click(screen.getByRole("button", { name: "Turn on two-factor" }));
    const dialog = await screen.findByRole("dialog", { name: "Save your recovery codes" });
    expect(within(dialog).getByTestId("recovery-codes")).toHaveTextContent("aaaa-bbbb");

    await user.click(within(dialog).getByRole("button", { name: "Copy codes" }));
    expect(await navigator.clipboard.readText()).toBe("aaaa-bbbb\ncccc-dddd");
    expect(within(dialog).getByRole("button", { name: "Copied" })).toBeInTheDocument();

    const blobs: Blob[] = [];
    vi.spyOn(URL, "createObjectURL").mockImplementation((b) => { blobs.push(b as Blob); return "blob:codes"; });
    vi.spyOn(URL, "revokeObjectURL").mockImplementation(() => {});
    const names: string[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) { names.push(this.download); });
    await user.click(within(dialog).getByRole("button", { name: "Download .txt" }));
    expect(names).toEqual(["rookery-recovery-codes.txt"]);
    const text = await blobs[0].text();
    expect(text).toContain("aaaa-bbbb\ncccc-dddd");
    expect(text).toContain(adminUser.email);

    // Escape does not lose the codes: the acknowledgement does the closing.
    fireEvent(dialog, new Event("cancel", { cancelable: true }));
    expect(screen.getByRole("dialog", { name: "Save your recovery codes" })).toBeInTheDocument();
    await user.click(within(dialog).getByRole("button", { name: "I have saved them" }));
    expect(screen.queryByRole("dialog", { name: "Save your recovery codes" })).not.toBeInTheDocument();
    expect(screen.queryByTestId("recovery-codes")).not.toBeInTheDocument();
    expect(screen.getByText(/Two-factor authentication is on/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Disable two-factor" })).toBeInTheDocument();
  });
});
