import { afterEach, describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { RuleDialog } from "./RuleDialog";
import { installFakeBackend } from "../../test/fake-backend";
import { renderAt } from "../../test/render";

let restore = () => {};
afterEach(() => restore());

const created = (req: { body: unknown }) => ({
  status: 201,
  body: { data: { id: "r1", position: 1, ...(req.body as object) }, meta: { version: 3, publish: "applied" } },
});

describe("RuleDialog", () => {
  it("refuses a VLAN that is not a number instead of sending 'any VLAN'", async () => {
    const fake = installFakeBackend({ "POST /rules": created });
    restore = fake.restore;
    renderAt("/", [{ path: "/", element: <RuleDialog rule="new" onClose={() => {}} /> }]);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "vlan rule");
    await user.type(screen.getByLabelText("VLAN"), "abc");
    await user.click(screen.getByRole("button", { name: "Save rule" }));
    expect(screen.getByLabelText("VLAN")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("VLAN")).toHaveAccessibleDescription(/number from 0 to 4095/);
    await waitFor(() => expect(screen.getByLabelText("VLAN")).toHaveFocus());
    expect(fake.calls).toHaveLength(0);
  });

  it("checks CIDRs, ports and the protocol before sending", async () => {
    const fake = installFakeBackend({ "POST /rules": created });
    restore = fake.restore;
    renderAt("/", [{ path: "/", element: <RuleDialog rule="new" onClose={() => {}} /> }]);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "block bad");
    await user.type(screen.getByLabelText("Source CIDRs"), "10.0.0.300/8");
    await user.type(screen.getByLabelText("Destination ports"), "70000");
    await user.clear(screen.getByLabelText("Protocol"));
    await user.type(screen.getByLabelText("Protocol"), "sctp");
    await user.click(screen.getByRole("button", { name: "Save rule" }));
    expect(screen.getByLabelText("Source CIDRs")).toHaveAccessibleDescription(/“10.0.0.300\/8” is not an IP address or network/);
    expect(screen.getByLabelText("Destination ports")).toHaveAccessibleDescription(/“70000” is not a port or port range/);
    expect(screen.getByLabelText("Protocol")).toHaveAccessibleDescription(/protocol number from 0 to 255/);
    expect(fake.calls).toHaveLength(0);
  });

  it("puts the server's field errors next to the fields, in plain language", async () => {
    const fake = installFakeBackend({
      "POST /rules": () => ({
        status: 422,
        body: {
          error: {
            code: "validation_error",
            message: "invalid body: name, src.0, body",
            details: {
              fields: {
                name: "String should have at most 100 characters",
                "src.0": "Value error, '10.0.0.0/8' is not an IPv4 or IPv6 address or CIDR",
                body: "Value error, ports need protocol tcp, udp or any",
              },
            },
          },
        },
      }),
    });
    restore = fake.restore;
    renderAt("/", [{ path: "/", element: <RuleDialog rule="new" onClose={() => {}} /> }]);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "block bad");
    await user.type(screen.getByLabelText("Source CIDRs"), "10.0.0.0/8");
    await user.clear(screen.getByLabelText("Protocol"));
    await user.type(screen.getByLabelText("Protocol"), "6");
    await user.type(screen.getByLabelText("VLAN"), "100");
    await user.click(screen.getByRole("button", { name: "Save rule" }));
    expect(await screen.findByText("Please correct the highlighted fields. Ports only apply to the protocols tcp, udp or any.")).toBeInTheDocument();
    expect(screen.getByLabelText("Name")).toHaveAccessibleDescription("Use at most 100 characters.");
    expect(screen.getByLabelText("Source CIDRs")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("Source CIDRs")).toHaveAccessibleDescription(/“10.0.0.0\/8” is not an IP address or network/);
    expect(screen.queryByText(/Value error|String should/)).not.toBeInTheDocument();
    // The protocol goes as a string (the API refuses a JSON number there), the VLAN as a number.
    expect(fake.calls[0].body).toMatchObject({ name: "block bad", src: ["10.0.0.0/8"], protocol: "6", vlan: 100, action: "drop" });
  });
});
