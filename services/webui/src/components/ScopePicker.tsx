import type { Scope } from "../lib/access";

/** Scope checkboxes grouped by resource ("users:read" → "users"). */
export function ScopePicker({ scopes, value, onChange, allowed }: {
  scopes: Scope[];
  value: string[];
  onChange: (v: string[]) => void;
  allowed?: string[];
}) {
  const groups = new Map<string, Scope[]>();
  for (const s of scopes) {
    const g = s.name.split(":")[0];
    groups.set(g, [...(groups.get(g) ?? []), s]);
  }
  return (
    <div className="grid gap-3 sm:grid-cols-2">
      {[...groups.entries()].map(([group, items]) => (
        <fieldset key={group} className="rounded border border-slate-700 p-2">
          <legend className="px-1 text-sm font-semibold text-amber-300">{group}</legend>
          {items.map((s) => {
            const disabled = allowed ? !allowed.includes(s.name) : false;
            return (
              <label key={s.name} className={`flex items-start gap-2 py-0.5 text-sm ${disabled ? "opacity-60" : ""}`}>
                <input
                  type="checkbox"
                  className="mt-0.5 h-4 w-4 accent-sky-400"
                  checked={value.includes(s.name)}
                  disabled={disabled}
                  onChange={(e) => onChange(e.target.checked ? [...value, s.name] : value.filter((n) => n !== s.name))}
                />
                <span>
                  <code className="text-sky-200">{s.name}</code>
                  {s.description && <span className="block text-xs muted">{s.description}</span>}
                </span>
              </label>
            );
          })}
        </fieldset>
      ))}
    </div>
  );
}
