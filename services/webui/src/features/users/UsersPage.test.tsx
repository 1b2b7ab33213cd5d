import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import UsersPage from "./UsersPage";
import { useAuthStore } from "../../lib/auth-store";
import { adminUser, installFakeBackend, type Recorded } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
beforeEach(() => useAuthStore.getState().clear());
afterEach(() => restore());

const publisher = {
  id: 7, email: "packet-publisher@rookery.internal", active: true, roles: ["maintainer"], scopes: ["rules:read"],
  tf_enabled: false, service_account: true, last_login_at: null,
};
const person = { ...publisher, id: 8, email: "ann@example.test", service_account: false, roles: ["viewer"] };
const protectedError = (what: string) => ({
  status: 409,
  body: { error: { code: "protected_account", message: `packet-publisher@rookery.internal is a built-in service account; ${what} stops rule publishing to packet-service and statistics. Repeat with force=true to do it anyway.`, details: { force: "true" } } },
});

function backend() {
  const forced = (req: Recorded) => (req.body as { force?: boolean } | undefined)?.force === true || req.params.force === "true";
  const fake = installFakeBackend({
    "GET /users": () => ({ status: 200, body: { data: [adminUser, publisher, person], meta: { total: 3, page: 1, per_page: 20 } } }),
    "GET /roles": () => ({ status: 200, body: { data: ["maintainer", "viewer"].map((name, id) => ({ id, name, description: "", scopes: [], builtin: true })) } }),
    "PATCH /users/7": (req) =>
      forced(req)
        ? { status: 200, body: { data: { ...publisher, active: false } } }
        : protectedError((req.body as { roles?: string[] }).roles ? "changing its roles" : "deactivating it"),
    "DELETE /users/7": (req) => (forced(req) ? { status: 200, body: { data: publisher } } : protectedError("deleting it")),
    "PATCH /users/8": () => ({ status: 200, body: { data: { ...person, active: false } } }),
  });
  restore = fake.restore;
  return fake;
}

async function open() {
  useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
  renderAt("/users", [{ path: "/users", element: <UsersPage /> }]);
  await screen.findByRole("cell", { name: /packet-publisher/ });
  return userEvent.setup();
}

describe("UsersPage: the built-in service account", () => {
  it("is marked with a badge", async () => {
    backend();
    await open();
    expect(screen.getByRole("cell", { name: /packet-publisher/ })).toHaveTextContent("service account");
    expect(screen.getByRole("cell", { name: "ann@example.test" })).toBeInTheDocument();
    expect(screen.getAllByText("service account")).toHaveLength(1);
  });

  it("deactivating it shows the backend's warning, then forces only after an explicit confirmation", async () => {
    const fake = backend();
    const user = await open();
    await user.click(screen.getByRole("button", { name: "Deactivate packet-publisher@rookery.internal" }));
    let dialog = screen.getByRole("dialog", { name: "Deactivate user" });
    expect(dialog).toHaveTextContent("It is a built-in service account.");
    await user.click(within(dialog).getByRole("button", { name: "Deactivate" }));
    dialog = await screen.findByRole("dialog", { name: "Deactivate user" });
    await waitFor(() => expect(dialog).toHaveTextContent("stops rule publishing to packet-service"));
    expect(dialog).not.toHaveTextContent("force=true"); // advice for API callers, not people
    const patches = () => fake.calls.filter((c) => c.method === "PATCH");
    expect(patches()).toHaveLength(1);
    expect(patches()[0].body).toEqual({ active: false });
    await user.click(within(dialog).getByRole("button", { name: "Deactivate anyway" }));
    await waitFor(() => expect(patches()).toHaveLength(2));
    expect(patches()[1].body).toEqual({ active: false, force: true });
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });

  it("cancelling after the warning sends nothing more", async () => {
    const fake = backend();
    const user = await open();
    await user.click(screen.getByRole("button", { name: "Delete packet-publisher@rookery.internal" }));
    await user.click(within(screen.getByRole("dialog", { name: "Delete user" })).getByRole("button", { name: "Delete" }));
    const dialog = await screen.findByRole("dialog", { name: "Delete user" });
    await within(dialog).findByRole("button", { name: "Delete anyway" });
    expect(dialog).toHaveTextContent("deleting it stops rule publishing");
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(fake.calls.filter((c) => c.method === "DELETE")).toHaveLength(1);
    expect(fake.calls.find((c) => c.method === "DELETE")?.params).toEqual({});
  });

  it("deleting it repeats with ?force=true after confirmation", async () => {
    const fake = backend();
    const user = await open();
    await user.click(screen.getByRole("button", { name: "Delete packet-publisher@rookery.internal" }));
    await user.click(within(screen.getByRole("dialog", { name: "Delete user" })).getByRole("button", { name: "Delete" }));
    await user.click(await screen.findByRole("button", { name: "Delete anyway" }));
    await waitFor(() => expect(fake.calls.filter((c) => c.method === "DELETE")).toHaveLength(2));
    expect(fake.calls.filter((c) => c.method === "DELETE")[1]).toMatchObject({ url: "/users/7", params: { force: "true" } });
  });

  it("re-roling it through the edit dialog asks again, then saves with force", async () => {
    const fake = backend();
    const user = await open();
    await user.click(screen.getByRole("button", { name: "Edit packet-publisher@rookery.internal" }));
    const dialog = screen.getByRole("dialog", { name: "Edit packet-publisher@rookery.internal" });
    expect(dialog).toHaveTextContent("This is a built-in service account");
    await user.click(within(dialog).getByRole("checkbox", { name: "viewer" }));
    await user.click(within(dialog).getByRole("button", { name: "Save" }));
    await within(dialog).findByRole("button", { name: "Save anyway" });
    expect(dialog).toHaveTextContent("changing its roles stops rule publishing");
    await user.click(within(dialog).getByRole("button", { name: "Save anyway" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(fake.calls.filter((c) => c.method === "PATCH").map((c) => c.body)).toEqual([
      { roles: ["maintainer", "viewer"] },
      { roles: ["maintainer", "viewer"], force: true },
    ]);
  });

  it("an ordinary account is deactivated at the first confirmation, without force", async () => {
    const fake = backend();
    const user = await open();
    await user.click(screen.getByRole("button", { name: "Deactivate ann@example.test" }));
    const dialog = screen.getByRole("dialog", { name: "Deactivate user" });
    expect(dialog).not.toHaveTextContent("service account");
    await user.click(within(dialog).getByRole("button", { name: "Deactivate" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(fake.calls.filter((c) => c.method === "PATCH").map((c) => c.body)).toEqual([{ active: false }]);
  });
});
