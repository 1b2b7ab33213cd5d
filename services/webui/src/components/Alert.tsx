import type { ReactNode } from "react";

const tones = {
  error: "border-red-400 bg-red-950 text-red-100",
  warning: "border-yellow-400 bg-yellow-950 text-yellow-100",
  info: "border-sky-400 bg-slate-900 text-sky-100",
  success: "border-emerald-400 bg-emerald-950 text-emerald-100",
};

export function Alert({ tone = "error", children }: { tone?: keyof typeof tones; children: ReactNode }) {
  return (
    <div role={tone === "error" ? "alert" : "status"} className={`rounded-md border px-3 py-2 text-sm ${tones[tone]}`}>
      {children}
    </div>
  );
}
