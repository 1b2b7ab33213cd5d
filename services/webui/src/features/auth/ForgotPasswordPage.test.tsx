import { afterEach, describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ForgotPasswordPage } from "./ForgotPasswordPage";
import { installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
afterEach(() => restore());

async function requestLink(delivery: string): Promise<string> {
  restore = installFakeBackend({
    "POST /auth/forgot": () => ({ status: 202, body: { data: { message: "whatever the server says", mail_delivery: delivery } } }),
  }).restore;
  const { container, unmount } = renderAt("/forgot-password", [{ path: "/forgot-password", element: <ForgotPasswordPage /> }]);
  const user = userEvent.setup();
  await user.type(screen.getByLabelText("Email"), "someone@example.test");
  await user.click(screen.getByRole("button", { name: "Send reset link" }));
  await screen.findByText(/If an account exists for that address/);
  const text = container.textContent ?? "";
  unmount();
  restore();
  return text;
}

describe("ForgotPasswordPage", () => {
  it("tells every visitor the same neutral thing, whatever the server's mail delivery", async () => {
    const smtp = await requestLink("smtp");
    const logged = await requestLink("logged");
    const disabled = await requestLink("disabled");
    expect(logged).toBe(smtp);
    expect(disabled).toBe(smtp);
    expect(smtp).not.toMatch(/mail server|log|configured/i);
  });
});
