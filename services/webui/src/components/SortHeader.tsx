import { ArrowDown, ArrowUp, ArrowUpDown } from "lucide-react";
import type { ReactNode } from "react";

/**
 * A column header that sorts: a button inside the <th>, and aria-sort on the <th> so a
 * screen reader says which column orders the table. `sort` is "name" or "-name" (descending).
 */
export function SortHeader({ column, sort, onSort, children, className }: {
  column: string;
  sort: string;
  onSort: (next: string) => void;
  children: ReactNode;
  className?: string;
}) {
  const active = sort.replace(/^-/, "") === column;
  const descending = active && sort.startsWith("-");
  const Icon = !active ? ArrowUpDown : descending ? ArrowDown : ArrowUp;
  return (
    <th scope="col" className={className} aria-sort={active ? (descending ? "descending" : "ascending") : "none"}>
      <button
        type="button"
        className="inline-flex items-center gap-1 rounded font-semibold text-amber-300 hover:text-amber-100"
        onClick={() => onSort(active && !descending ? `-${column}` : column)}
      >
        {children}
        <Icon aria-hidden className={`h-3.5 w-3.5 ${active ? "" : "opacity-50"}`} />
      </button>
    </th>
  );
}
