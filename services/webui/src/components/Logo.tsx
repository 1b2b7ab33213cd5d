/** Rookery's own mark: a rook (the bird) in profile inside a gold ring. */
export function Logo({ size = 40, title = "Rookery" }: { size?: number; title?: string }) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 64 64"
      role="img"
      aria-label={title}
      // Never wider than its box: a 300 px mark in a 160 px column scales down, centred.
      className="block h-auto max-w-full shrink-0"
    >
      <circle cx="32" cy="32" r="30" fill="#0f172a" stroke="#fbbf24" strokeWidth="3" />
      <path
        d="M14 40c6-1 11-4 14-9 2-4 4-9 9-11 4-2 8-1 10 2l5 1-4 3c1 6-2 12-8 15-5 3-12 4-18 3l-6 6-1-6c-1 0-1-2-1-4z"
        fill="#fbbf24"
      />
      <circle cx="42" cy="23" r="1.8" fill="#0f172a" />
    </svg>
  );
}
