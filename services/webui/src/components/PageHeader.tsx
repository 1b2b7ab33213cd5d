import { useEffect, type ReactNode } from "react";

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  // Each page has its own title (WCAG 2.4.2), which also names browser history entries.
  useEffect(() => {
    document.title = `${title} · Rookery`;
  }, [title]);
  return (
    <header className="mb-4 flex flex-wrap items-center justify-between gap-3">
      <h1 className="text-2xl">{title}</h1>
      {children && <div className="flex flex-wrap gap-2">{children}</div>}
    </header>
  );
}
