import { StrictMode, startTransition } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";
import { QueryClientProvider } from "@tanstack/react-query";
import "./index.css";
import { App } from "./App";
import { createQueryClient } from "./lib/query-client";
import { restoreSession } from "./features/auth/session";

const queryClient = createQueryClient();
// The access token lives only in memory: on every load, trade the refresh cookie for one.
void restoreSession();

const root = createRoot(document.getElementById("root")!);
// As a transition the first render is time-sliced (React yields every few milliseconds)
// instead of one long task that holds a slow phone's main thread.
startTransition(() => {
  root.render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <BrowserRouter>
          <App />
        </BrowserRouter>
      </QueryClientProvider>
    </StrictMode>,
  );
});
