import { useEffect, type ReactNode } from "react";
import { Logo } from "../../components/Logo";

/** The centred frame of the signed-out pages: the logo above the form. */
export function AuthShell({ title, children }: { title: string; children: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Rookery`;
  }, [title]);
  return (
    <main className="flex min-h-screen flex-col items-center justify-center px-4 py-8">
      <div className="mb-6 w-[160px] sm:w-[300px]" aria-hidden>
        <Logo size={300} title="" />
      </div>
      <section className="card w-full max-w-sm" aria-labelledby="auth-title">
        <h1 id="auth-title" className="mb-4 text-center text-xl">
          {title}
        </h1>
        {children}
      </section>
    </main>
  );
}
