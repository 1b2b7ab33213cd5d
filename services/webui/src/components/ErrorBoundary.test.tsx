import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import { ErrorBoundary } from "./ErrorBoundary";

function Broken(): never {
  throw new Error("chunk failed to load");
}

describe("ErrorBoundary", () => {
  it("shows a way out instead of a blank page, and recovers on navigation", () => {
    const quiet = vi.spyOn(console, "error").mockImplementation(() => {});
    const { rerender } = render(<ErrorBoundary resetKey="/a"><Broken /></ErrorBoundary>);
    expect(screen.getByRole("alert")).toHaveTextContent("This page could not be shown");
    expect(screen.getByRole("button", { name: "Reload" })).toBeInTheDocument();
    rerender(<ErrorBoundary resetKey="/b"><p>next page</p></ErrorBoundary>);
    expect(screen.getByText("next page")).toBeInTheDocument();
    quiet.mockRestore();
  });
});
