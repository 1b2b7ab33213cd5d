import { useEffect, useId, useRef, type ReactNode } from "react";

/**
 * A modal built on <dialog>: the browser traps focus and closes it on Escape;
 * focus returns to whatever opened it. `dismissible={false}` keeps it open on Escape (for
 * what is lost for good once closed, like a secret shown once): only its own buttons close it.
 */
export function Dialog({ open, title, onClose, children, dismissible = true }: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  dismissible?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (open && !el.open) {
      if (typeof el.showModal === "function") el.showModal();
      else el.setAttribute("open", "");
    } else if (!open && el.open) {
      if (typeof el.close === "function") el.close();
      else el.removeAttribute("open");
    }
  }, [open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(e) => { e.preventDefault(); if (dismissible) onClose(); }}
      // Chromium lets a second Escape in a row close a dialog even though its cancel was
      // refused: a dialog that must stay open opens again.
      onClose={() => {
        const el = ref.current;
        if (!dismissible && open && el && !el.open && typeof el.showModal === "function") el.showModal();
      }}
      // Centred in the viewport and never taller or wider than it: long forms scroll inside.
      className="fixed inset-0 m-auto h-fit max-h-[calc(100dvh-2rem)] w-[min(34rem,calc(100vw-2rem))] max-w-none overflow-y-auto rounded-lg border border-slate-700 bg-slate-900 p-0 text-amber-100 backdrop:bg-slate-950/80"
    >
      {open && (
        <div className="p-5">
          <h2 id={titleId} className="mb-3 text-lg">{title}</h2>
          {children}
        </div>
      )}
    </dialog>
  );
}

export function ConfirmDialog({ open, title, message, confirmLabel, onConfirm, onCancel, busy, tone = "danger" }: {
  open: boolean;
  title: string;
  message: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  busy?: boolean;
  /** "danger" (red) for destructive actions, "primary" (gold) for ordinary ones. */
  tone?: "danger" | "primary";
}) {
  return (
    <Dialog open={open} title={title} onClose={onCancel}>
      <div className="mb-4 text-sm">{message}</div>
      <div className="flex justify-end gap-2">
        <button type="button" className="btn-secondary" onClick={onCancel}>Cancel</button>
        <button type="button" className={tone === "danger" ? "btn-danger" : "btn-primary"} onClick={onConfirm} disabled={busy}>{confirmLabel}</button>
      </div>
    </Dialog>
  );
}
