import { afterEach, describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { RuleDialog } from "./RuleDialog";
import { installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
afterEach(() => restore());

describe("RuleDialog", () => {
  it("puts the server's validation messages on the fields", async () => {
    const fake = installFakeBackend({
      "POST /rules": () => ({
        status: 422,
        body: { error: { code: "validation_error", message: "invalid", details: { fields: { "src.0": "not a valid CIDR", dst_ports: "port out of range", body: "ports need protocol tcp, udp or any" } } } },
      }),
    });
    restore = fake.restore;
    renderAt("/", [{ path: "/", element: <RuleDialog rule="new" onClose={() => {}} /> }]);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "block bad");
    await user.type(screen.getByLabelText("Source CIDRs"), "10.0.0.300/8");
    await user.type(screen.getByLabelText("Destination ports"), "70000");
    await user.click(screen.getByRole("button", { name: "Save rule" }));
    expect(await screen.findByText("not a valid CIDR")).toBeInTheDocument();
    expect(screen.getByLabelText("Source CIDRs")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText(/Please correct the highlighted fields\. ports need protocol/)).toBeInTheDocument();
    expect(screen.getByLabelText("Destination ports")).toHaveAccessibleDescription(/port out of range/);
    expect(fake.calls[0].body).toMatchObject({ name: "block bad", src: ["10.0.0.300/8"], dst_ports: ["70000"], vlan: null, action: "drop" });
  });
});
