import { ShieldAlert } from "lucide-react";
import { Link } from "react-router";

/** Shown for a deep link the user's scopes do not allow: clear, never blank. */
export function Forbidden({ scope }: { scope?: string }) {
  return (
    <section className="mx-auto mt-12 max-w-lg text-center" aria-labelledby="forbidden-title">
      <ShieldAlert aria-hidden className="mx-auto mb-3 h-12 w-12 text-yellow-400" />
      <h1 id="forbidden-title" className="mb-2 text-2xl">403 — Not allowed</h1>
      <p className="mb-4">
        Your account does not have permission to open this page
        {scope ? <> (it needs the <code className="text-sky-200">{scope}</code> scope)</> : null}.
        Ask an administrator if you need access.
      </p>
      <Link to="/">Back to the start page</Link>
    </section>
  );
}

export function NotFound() {
  return (
    <section className="mx-auto mt-12 max-w-lg text-center">
      <h1 className="mb-2 text-2xl">404 — Page not found</h1>
      <Link to="/">Back to the start page</Link>
    </section>
  );
}
