import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useLocation } from "react-router";
import ApiKeysPage from "./ApiKeysPage";
import { useAuthStore } from "../../lib/auth-store";
import { useToastStore } from "../../components/Toast";
import { adminUser, installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
beforeEach(() => {
  useAuthStore.getState().setSession({ accessToken: "t", user: adminUser });
  useToastStore.setState({ toasts: [] });
});
afterEach(() => restore());

function Search() {
  return <p data-testid="search">{useLocation().search}</p>;
}
const routes = [{ path: "/api-keys", element: <><ApiKeysPage /><Search /></> }];

const key = (id: number, name: string, over: Record<string, unknown> = {}) => ({
  id, name, user_id: 1, prefix: `rk_${id}`, scopes: ["stats:read"], created_at: `2026-01-0${id}T08:00:00Z`,
  expires_at: null, last_used_at: null, revoked: false, ...over,
});

function backend(initial = [key(1, "ci-deploy"), key(2, "grafana"), key(3, "old-ci", { revoked: true })]) {
  const keys = initial.map((k) => ({ ...k }));
  const fake = installFakeBackend({
    "GET /apikeys": () => ({ status: 200, body: { data: structuredClone(keys) } }),
    "GET /scopes": () => ({ status: 200, body: { data: [{ name: "stats:read", description: "read statistics" }] } }),
    "POST /apikeys": (req) => {
      const created = { ...key(9, (req.body as { name: string }).name), key: "rk_9_the-secret-shown-once" };
      keys.push({ ...created, key: undefined } as never);
      return { status: 201, body: { data: created } };
    },
    "DELETE /apikeys/1": () => {
      keys[0].revoked = true;
      return { status: 200, body: { data: keys[0] } };
    },
  });
  restore = fake.restore;
  return fake;
}

const names = () => screen.getAllByTestId("key-row").map((r) => within(r).getAllByRole("cell")[0].textContent);
const toasts = () => useToastStore.getState().toasts.map((t) => t.message);

describe("ApiKeysPage", { timeout: 20_000 }, () => {
  it("keeps the shown-once dialog open on Escape; only “I have copied it” closes it", async () => {
    backend();
    renderAt("/api-keys", routes);
    await screen.findAllByTestId("key-row");
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "New API key" }));
    const create = screen.getByRole("dialog", { name: "Create API key" });
    await user.type(within(create).getByLabelText("Name"), "new-key");
    await user.click(within(create).getByRole("button", { name: "Create key" }));
    const reveal = await screen.findByRole("dialog", { name: "Your new API key" });
    expect(within(reveal).getByTestId("new-api-key")).toHaveValue("rk_9_the-secret-shown-once");
    // What the browser fires on Escape (a click outside the modal closes nothing either).
    fireEvent(reveal, new Event("cancel", { cancelable: true }));
    fireEvent(reveal, new Event("cancel", { cancelable: true }));
    expect(screen.getByRole("dialog", { name: "Your new API key" })).toBeInTheDocument();
    expect(within(reveal).queryByRole("button", { name: "Done" })).not.toBeInTheDocument();
    await user.click(within(reveal).getByRole("button", { name: "I have copied it" }));
    expect(screen.queryByRole("dialog", { name: "Your new API key" })).not.toBeInTheDocument();
    expect(toasts()).toContain("API key “new-key” created");
    await waitFor(() => expect(screen.getByText("new-key", { selector: "td" }).closest("tr")).toHaveClass("row-highlight"));
  });

  it("after revoking the last active key, says the revoked keys are hidden instead of “No API keys yet”", async () => {
    backend([key(1, "ci-deploy"), key(3, "old-ci", { revoked: true })]);
    renderAt("/api-keys", routes);
    await screen.findAllByTestId("key-row");
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "Revoke ci-deploy" }));
    await user.click(within(screen.getByRole("dialog", { name: "Revoke API key" })).getByRole("button", { name: "Revoke" }));
    const empty = await screen.findByTestId("keys-empty");
    expect(empty).not.toHaveTextContent("No API keys yet");
    expect(empty).toHaveTextContent("No active keys. 2 revoked keys are hidden");
    expect(toasts()).toContain("API key “ci-deploy” revoked");
    await user.click(screen.getByLabelText("Show revoked keys"));
    expect(names()).toEqual(["ci-deployrevoked", "old-cirevoked"]);
    expect(screen.getByTestId("search")).toHaveTextContent("revoked=true");
  });

  it("says when the filter, not the absence of keys, empties the table", async () => {
    backend();
    renderAt("/api-keys?q=nothing-like-this", routes);
    expect(await screen.findByTestId("keys-empty")).toHaveTextContent("No key matches “nothing-like-this”. 1 revoked key is hidden");
  });

  it("keeps filter, sort, revoked keys, page size and page in the URL", async () => {
    backend();
    renderAt("/api-keys?q=ci&sort=-created&revoked=true&per=10", routes);
    await screen.findAllByTestId("key-row");
    expect(screen.getByLabelText("Filter keys")).toHaveValue("ci");
    expect(screen.getByLabelText("Show revoked keys")).toBeChecked();
    expect(screen.getByRole("columnheader", { name: /Created/ })).toHaveAttribute("aria-sort", "descending");
    expect(names()).toEqual(["old-cirevoked", "ci-deploy"]);
    const user = userEvent.setup();
    await user.click(within(screen.getByRole("columnheader", { name: /Name/ })).getByRole("button"));
    expect(screen.getByTestId("search")).not.toHaveTextContent("sort="); // name order is the default
    expect(names()).toEqual(["ci-deploy", "old-cirevoked"]);
    await user.selectOptions(screen.getByLabelText("Rows per page"), "50");
    expect(screen.getByTestId("search")).toHaveTextContent("per=50");
  });
});
