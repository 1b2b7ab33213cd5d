import { X } from "lucide-react";
import { create } from "zustand";

export type ToastTone = "success" | "error" | "info";

interface ToastItem {
  id: number;
  message: string;
  tone: ToastTone;
}

interface ToastState {
  toasts: ToastItem[];
  push: (message: string, tone?: ToastTone) => void;
  dismiss: (id: number) => void;
}

/** How long a toast stays; errors stay until dismissed (they may need reading twice). */
export const TOAST_MS = 4000;
let nextId = 1;

export const useToastStore = create<ToastState>((set, get) => ({
  toasts: [],
  push: (message, tone = "success") => {
    const id = nextId++;
    // At most three at a time: a burst of actions must not bury the page.
    set((s) => ({ toasts: [...s.toasts.slice(-2), { id, message, tone }] }));
    if (tone !== "error") setTimeout(() => get().dismiss(id), TOAST_MS);
  },
  dismiss: (id) => set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })),
}));

/** A short confirmation of what just happened ("Rule “dns” created"), announced politely. */
export function toast(message: string, tone: ToastTone = "success") {
  useToastStore.getState().push(message, tone);
}

const tones: Record<ToastTone, string> = {
  success: "border-emerald-400 bg-emerald-950 text-emerald-50",
  error: "border-red-400 bg-red-950 text-red-50",
  info: "border-amber-400 bg-slate-900 text-amber-50",
};

/** The live region every toast appears in (rendered once, by Layout). */
export function Toaster() {
  const { toasts, dismiss } = useToastStore();
  return (
    <div
      role="status"
      aria-live="polite"
      className="pointer-events-none fixed inset-x-0 bottom-0 z-50 flex flex-col items-center gap-2 p-3 sm:items-end"
    >
      {toasts.map((t) => (
        <div
          key={t.id}
          data-testid="toast"
          className={`pointer-events-auto flex w-full max-w-sm items-start gap-2 rounded-md border px-3 py-2 text-sm shadow-lg ${tones[t.tone]}`}
        >
          <span className="flex-1">{t.message}</span>
          <button type="button" className="rounded p-0.5 hover:bg-white/10" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            <X aria-hidden className="h-4 w-4" />
          </button>
        </div>
      ))}
    </div>
  );
}
