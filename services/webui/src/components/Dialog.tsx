import { useEffect, useId, useRef, type ReactNode } from "react";

/**
 * A modal built on <dialog>: the browser traps focus and closes it on Escape;
 * focus returns to whatever opened it.
 */
export function Dialog({ open, title, onClose, children }: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
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
      onCancel={(e) => { e.preventDefault(); onClose(); }}
      className="m-auto w-[min(34rem,calc(100vw-2rem))] rounded-lg border border-slate-700 bg-slate-900 p-0 text-amber-100 backdrop:bg-slate-950/80"
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

export function ConfirmDialog({ open, title, message, confirmLabel, onConfirm, onCancel, busy }: {
  open: boolean;
  title: string;
  message: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  busy?: boolean;
}) {
  return (
    <Dialog open={open} title={title} onClose={onCancel}>
      <div className="mb-4 text-sm">{message}</div>
      <div className="flex justify-end gap-2">
        <button type="button" className="btn-secondary" onClick={onCancel}>Cancel</button>
        <button type="button" className="btn-danger" onClick={onConfirm} disabled={busy}>{confirmLabel}</button>
      </div>
    </Dialog>
  );
}
