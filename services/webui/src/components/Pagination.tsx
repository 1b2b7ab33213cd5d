import { useId } from "react";

export const PAGE_SIZES = [10, 25, 50, 100] as const;

export function Pagination({ page, perPage, total, onPage, onPerPage, pageSizes = PAGE_SIZES }: {
  page: number;
  perPage: number;
  total: number;
  onPage: (p: number) => void;
  /** Given: a "Rows per page" choice is shown. */
  onPerPage?: (n: number) => void;
  pageSizes?: readonly number[];
}) {
  const sizeId = useId();
  const pages = Math.max(1, Math.ceil(total / perPage));
  return (
    <nav aria-label="Pagination" className="mt-3 flex flex-wrap items-center justify-between gap-2 text-sm">
      <span className="muted">
        {total} total · page {Math.min(page, pages)} of {pages}
      </span>
      <span className="flex flex-wrap items-center gap-2">
        {onPerPage && (
          <>
            <label htmlFor={sizeId} className="muted">Rows per page</label>
            <select id={sizeId} className="input w-auto py-1" value={perPage} onChange={(e) => onPerPage(Number(e.target.value))}>
              {pageSizes.map((n) => <option key={n} value={n}>{n}</option>)}
            </select>
          </>
        )}
        <button type="button" className="btn-secondary" disabled={page <= 1} onClick={() => onPage(page - 1)}>
          Previous
        </button>
        <button type="button" className="btn-secondary" disabled={page >= pages} onClick={() => onPage(page + 1)}>
          Next
        </button>
      </span>
    </nav>
  );
}
