import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import ApiKeysPage from "./ApiKeysPage";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
beforeEach(() => useAuthStore.getState().clear());
afterEach(() => restore());

const key = (id: number, name: string, user_id: number) => ({
  id, name, user_id, prefix: `rk_${id}`, scopes: ["rules:read"], created_at: "2026-11-30T08:00:00Z",
  expires_at: null, last_used_at: null, revoked: false,
});
const mine = key(1, "my-key", 1);
const publisherKey = key(2, "rule-publisher", 7);

function backend() {
  const fake = installFakeBackend({
    "GET /apikeys": (req) => ({ status: 200, body: { data: req.params.all === "true" ? [mine, publisherKey] : [mine] } }),
    "GET /users/1": () => ({ status: 200, body: { data: adminUser } }),
    "GET /users/7": () => ({
      status: 200,
      body: { data: { id: 7, email: "packet-publisher@rookery.internal", service_account: true, active: true, roles: [], scopes: [], tf_enabled: false } },
    }),
    "DELETE /apikeys/2": (req) =>
      req.params.force === "true"
        ? { status: 200, body: { data: { ...publisherKey, revoked: true } } }
        : {
          status: 409,
          body: { error: { code: "protected_account", message: "packet-publisher@rookery.internal is a built-in service account; revoking its key stops rule publishing to packet-service and statistics. Repeat with force=true to do it anyway." } },
        },
  });
  restore = fake.restore;
  return fake;
}

async function openAllKeys() {
  useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
  renderAt("/apikeys", [{ path: "/apikeys", element: <ApiKeysPage /> }]);
  await screen.findByRole("cell", { name: "my-key" });
  const user = userEvent.setup();
  await user.click(screen.getByLabelText("Show every user's keys"));
  await screen.findByRole("cell", { name: "rule-publisher" });
  return user;
}

describe("ApiKeysPage: keys of the built-in service account", () => {
  it("shows each key's owner and marks the service account", async () => {
    backend();
    await openAllKeys();
    const owner = await screen.findByRole("cell", { name: /packet-publisher@rookery.internal/ });
    expect(owner).toHaveTextContent("service account");
    expect(screen.getByRole("cell", { name: "admin@example.test" })).toBeInTheDocument();
    // Rotating is for a key's owner: nobody else ever sees its secret.
    expect(screen.getByRole("button", { name: "Rotate my-key" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Rotate rule-publisher" })).not.toBeInTheDocument();
  });

  it("revoking its key shows the backend's warning and repeats with force after confirmation", async () => {
    const fake = backend();
    const user = await openAllKeys();
    await user.click(screen.getByRole("button", { name: "Revoke rule-publisher" }));
    await user.click(within(screen.getByRole("dialog", { name: "Revoke API key" })).getByRole("button", { name: "Revoke" }));
    const again = await screen.findByRole("button", { name: "Revoke anyway" });
    expect(screen.getByRole("dialog", { name: "Revoke API key" })).toHaveTextContent("revoking its key stops rule publishing");
    const deletes = () => fake.calls.filter((c) => c.method === "DELETE");
    expect(deletes()).toHaveLength(1);
    expect(deletes()[0].params).toEqual({});
    await user.click(again);
    await waitFor(() => expect(deletes()).toHaveLength(2));
    expect(deletes()[1]).toMatchObject({ url: "/apikeys/2", params: { force: "true" } });
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });
});
