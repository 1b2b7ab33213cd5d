import type { ReactElement } from "react";
import { render } from "@testing-library/react";
import { QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { createQueryClient } from "../lib/query-client";

function WhereAmI() {
  const loc = useLocation();
  return <p data-testid="location">{loc.pathname}</p>;
}

/** Renders `element` at `path` inside the app's providers, with the current path visible. */
export function renderAt(path: string, routes: { path: string; element: ReactElement }[]) {
  const qc = createQueryClient();
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          {routes.map((r) => <Route key={r.path} path={r.path} element={r.element} />)}
        </Routes>
        <WhereAmI />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}
