export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p role="status" className="p-4 muted">
      {label}
    </p>
  );
}
