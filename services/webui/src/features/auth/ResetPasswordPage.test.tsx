import { afterEach, describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ResetPasswordPage } from "./ResetPasswordPage";
import { installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
afterEach(() => restore());

const routes = [{ path: "/reset-password", element: <ResetPasswordPage /> }];

function backend() {
  const fake = installFakeBackend({
    "POST /auth/reset": (req) => {
      const revoke = (req.body as { revoke_api_keys: boolean }).revoke_api_keys;
      return { status: 200, body: { data: { message: "ok", sessions_revoked: 3, api_keys_revoked: revoke ? 1 : 0 } } };
    },
  });
  restore = fake.restore;
  return fake;
}

async function reset(keepKeys: boolean) {
  renderAt("/reset-password?token=tok", routes);
  const user = userEvent.setup();
  await user.type(screen.getByLabelText("New password"), "Another-Passw0rd!");
  await user.type(screen.getByLabelText("Repeat new password"), "Another-Passw0rd!");
  const box = screen.getByRole("checkbox", { name: /Also revoke my API keys/ });
  expect(box).toBeChecked(); // the safe default
  if (keepKeys) await user.click(box);
  await user.click(screen.getByRole("button", { name: "Set password" }));
}

describe("ResetPasswordPage", () => {
  it("revokes the API keys by default and says what was ended", async () => {
    const fake = backend();
    await reset(false);
    expect(await screen.findByRole("status")).toHaveTextContent("Your password has been changed. 3 sessions signed out, 1 API key revoked.");
    expect(fake.calls[0].body).toEqual({ token: "tok", password: "Another-Passw0rd!", revoke_api_keys: true });
  });

  it("can keep the API keys", async () => {
    const fake = backend();
    await reset(true);
    expect(await screen.findByRole("status")).toHaveTextContent("3 sessions signed out; your API keys were kept.");
    expect(fake.calls[0].body).toMatchObject({ revoke_api_keys: false });
  });
});
