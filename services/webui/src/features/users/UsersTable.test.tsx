import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useLocation } from "react-router";
import UsersPage from "./UsersPage";
import { useAuthStore } from "../../lib/auth-store";
import { useToastStore } from "../../components/Toast";
import { adminUser, installFakeBackend, type Recorded } from "../../test/fake-backend";
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
const routes = [{ path: "/users", element: <><UsersPage /><Search /></> }];

const person = (id: number, email: string, over: Record<string, unknown> = {}) => ({
  id, email, active: true, roles: ["viewer"], scopes: [], tf_enabled: false, service_account: false,
  last_login_at: null, created_at: "2026-01-01T00:00:00Z", ...over,
});

/** A users API that filters and pages in creation order, as the real one does. */
function backend(initial = Array.from({ length: 24 }, (_, i) => person(i + 2, `user${String(i + 1).padStart(2, "0")}@example.test`))) {
  const users = [adminUser, ...initial].map((u) => ({ ...person(0, ""), ...u }));
  const list = (req: Recorded) => {
    const { q = "", status = "", role = "", page = "1", per_page = "20" } = req.params;
    const hits = users.filter((u) => u.email.includes(q) && (!status || u.active === (status === "active")) && (!role || u.roles.includes(role)));
    const start = (Number(page) - 1) * Number(per_page);
    return { status: 200, body: { data: structuredClone(hits.slice(start, start + Number(per_page))), meta: { total: hits.length, page: Number(page), per_page: Number(per_page) } } };
  };
  const fake = installFakeBackend({
    "GET /users": list,
    "GET /roles": () => ({ status: 200, body: { data: ["admin", "viewer"].map((name, id) => ({ id, name, description: "", scopes: [], builtin: true })) } }),
    "POST /users": (req) => {
      const body = req.body as { email: string; roles?: string[] };
      const created = person(100, body.email, { roles: body.roles ?? [] });
      users.push(created);
      return { status: 201, body: { data: created } };
    },
    "PATCH /users/5": (req) => {
      const u = users.find((x) => x.id === 5)!;
      Object.assign(u, req.body);
      return { status: 200, body: { data: u } };
    },
    "GET /users/export": () => ({ status: 200, body: "id,email\r\n", headers: { "content-disposition": 'attachment; filename="rookery-users-x.csv"' } }),
  });
  restore = fake.restore;
  return fake;
}

const emails = () => screen.getAllByTestId("user-row").map((r) => within(r).getAllByRole("cell")[0].textContent);
// By text, not by role: naming every row on each check starves the debounce timers.
const rowOf = async (email: string) => (await screen.findByText(email, { selector: "td" }, { timeout: 4000 })).closest("tr")!;
const toasts = () => useToastStore.getState().toasts.map((t) => t.message);

// Typing and the search's debounce make these slower than the default 5 s on a busy machine.
describe("UsersPage: sort, page size, filters and page in the URL", { timeout: 20_000 }, () => {
  it("reads the view from the URL, asks the server for the filters and sorts across every page", async () => {
    const fake = backend();
    renderAt("/users?q=user&status=active&role=viewer&sort=-email&page=2&per=10", routes);
    await screen.findAllByTestId("user-row");
    const query = fake.calls.filter((c) => c.url === "/users").at(-1)!.params;
    expect(query).toMatchObject({ q: "user", status: "active", role: "viewer" });
    expect(screen.getByLabelText("Search by email")).toHaveValue("user");
    expect(screen.getByLabelText("Status")).toHaveValue("active");
    expect(screen.getByRole("columnheader", { name: /Email/ })).toHaveAttribute("aria-sort", "descending");
    expect(screen.getByLabelText("Rows per page")).toHaveValue("10");
    // Page 2 of the whole list in descending e-mail order: user14 … user05.
    expect(emails()).toEqual(Array.from({ length: 10 }, (_, i) => `user${String(14 - i).padStart(2, "0")}@example.test`));
  });

  it("writes sort, page size and page changes to the URL", async () => {
    backend();
    renderAt("/users", routes);
    await screen.findAllByTestId("user-row");
    const user = userEvent.setup();
    await user.click(within(screen.getByRole("columnheader", { name: /Email/ })).getByRole("button"));
    expect(screen.getByTestId("search")).toHaveTextContent("sort=-email");
    expect(emails()[0]).toBe("user24@example.test");
    await user.selectOptions(screen.getByLabelText("Rows per page"), "10");
    expect(screen.getByTestId("search")).toHaveTextContent("per=10");
    await user.click(screen.getByRole("button", { name: "Next" }));
    expect(screen.getByTestId("search")).toHaveTextContent("page=2");
    await user.selectOptions(screen.getByLabelText("Status"), "inactive");
    expect(screen.getByTestId("search")).toHaveTextContent("status=inactive");
    expect(screen.getByTestId("search")).not.toHaveTextContent("page=");
  });

  it("shows a new user where it is: its page, highlighted and focused, with a toast", async () => {
    backend();
    renderAt("/users?per=10", routes);
    await screen.findAllByTestId("user-row");
    expect(emails()[0]).toBe("admin@example.test");
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "New user" }));
    const dialog = screen.getByRole("dialog", { name: "Create user" });
    await user.type(within(dialog).getByLabelText("Email"), "user155@example.test");
    await user.type(within(dialog).getByLabelText("Initial password"), "A-long-Passw0rd!");
    await user.click(within(dialog).getByRole("button", { name: "Create user" }));
    // Sorted by e-mail, user155 falls on page 2 (after user01 … user15).
    await waitFor(() => expect(screen.getByTestId("search")).toHaveTextContent("page=2"));
    const row = await rowOf("user155@example.test");
    await waitFor(() => expect(row).toHaveClass("row-highlight"));
    expect(within(row).getByRole("button", { name: "Edit user155@example.test" })).toHaveFocus();
    expect(toasts()).toContain("User “user155@example.test” created");
  });

  it("clears filters that would hide the new user", async () => {
    backend();
    renderAt("/users?q=user0", routes);
    await screen.findAllByTestId("user-row");
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "New user" }));
    const dialog = screen.getByRole("dialog", { name: "Create user" });
    await user.type(within(dialog).getByLabelText("Email"), "zed@example.test");
    await user.type(within(dialog).getByLabelText("Initial password"), "A-long-Passw0rd!");
    await user.click(within(dialog).getByRole("button", { name: "Create user" }));
    const row = await rowOf("zed@example.test");
    await waitFor(() => expect(row).toHaveClass("row-highlight"));
    expect(screen.getByTestId("search")).not.toHaveTextContent("q=");
  });

  it("an edit shows a toast and keeps the edited row in view", async () => {
    backend();
    renderAt("/users?per=10&page=1", routes);
    await screen.findAllByTestId("user-row");
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "Edit user04@example.test" }));
    const dialog = screen.getByRole("dialog", { name: "Edit user04@example.test" });
    await user.clear(within(dialog).getByLabelText("Email"));
    await user.type(within(dialog).getByLabelText("Email"), "zz-user04@example.test");
    await user.click(within(dialog).getByRole("button", { name: "Save" }));
    // Renamed, it sorts last: the table follows it to page 3.
    await waitFor(() => expect(screen.getByTestId("search")).toHaveTextContent("page=3"));
    const row = await rowOf("zz-user04@example.test");
    await waitFor(() => expect(row).toHaveClass("row-highlight"));
    expect(toasts()).toContain("Saved changes to “zz-user04@example.test”");
  });

  it("exports the filtered users as CSV through the API client", async () => {
    const fake = backend();
    renderAt("/users?status=active&role=viewer", routes);
    await screen.findAllByTestId("user-row");
    await userEvent.setup().click(screen.getByRole("button", { name: "Export CSV" }));
    await waitFor(() => expect(fake.calls.find((c) => c.url === "/users/export")).toBeDefined());
    const call = fake.calls.find((c) => c.url === "/users/export")!;
    expect(call.params).toEqual({ status: "active", role: "viewer" });
    expect(call.headers.get("Authorization")).toBe("Bearer t");
    await waitFor(() => expect(toasts()).toContain("Exported the filtered users as CSV"));
  });
});
