import { useCallback, useEffect, useRef, useState } from "react";

const HIGHLIGHT_MS = 4000;
const GIVE_UP_MS = 5000;

/**
 * Keeps the user on the row they just acted on (created, edited, rotated): once the list
 * has reloaded, turns to the row's page, scrolls it into view, focuses its first button and
 * highlights it for a few seconds. Rows must carry `data-row-id`.
 *
 * `rows` is the table's whole sorted and filtered list (every page), `ready` false while it
 * is still loading. When the row is not in it, `reveal` may widen the view (clear the
 * filters) and return true: the row is looked for once more in the next rows.
 */
export function useKeepRow<T>({ rows, idOf, perPage, page, setPage, ready, reveal }: {
  rows: readonly T[];
  idOf: (row: T) => string;
  perPage: number;
  page: number;
  setPage: (page: number) => void;
  ready: boolean;
  reveal?: () => boolean;
}) {
  // `before`: the rows seen when the view was widened; the search waits for new ones.
  const [target, setTarget] = useState<{ id: string; before?: readonly T[] } | null>(null);
  const [highlightId, setHighlightId] = useState<string | null>(null);
  const tbody = useRef<HTMLTableSectionElement>(null);

  useEffect(() => {
    if (!target || !ready || rows === target.before) return;
    const index = rows.findIndex((r) => idOf(r) === target.id);
    if (index < 0) {
      // The row is looked for after each reload of the list (and, below, in the DOM once its
      // page has rendered): the effect follows data that arrives later, one step per render.
      // eslint-disable-next-line react-hooks/set-state-in-effect
      setTarget(!target.before && reveal?.() ? { ...target, before: rows } : null);
      return;
    }
    const want = Math.floor(index / perPage) + 1;
    if (want !== page) {
      setPage(want);
      return;
    }
    const row = tbody.current?.querySelector<HTMLTableRowElement>(`tr[data-row-id="${CSS.escape(target.id)}"]`);
    if (!row) return;
    row.scrollIntoView?.({ block: "nearest" });
    row.querySelector<HTMLButtonElement>("button")?.focus({ preventScroll: true });
    setHighlightId(target.id);
    setTarget(null);
  }, [target, ready, rows, idOf, perPage, page, setPage, reveal]);

  // A widened view that never shows the row: stop looking rather than jump to it later.
  useEffect(() => {
    if (!target?.before) return;
    const t = setTimeout(() => setTarget(null), GIVE_UP_MS);
    return () => clearTimeout(t);
  }, [target]);

  useEffect(() => {
    if (!highlightId) return;
    const t = setTimeout(() => setHighlightId(null), HIGHLIGHT_MS);
    return () => clearTimeout(t);
  }, [highlightId]);

  const keep = useCallback((id: string | number) => setTarget({ id: String(id) }), []);
  return { keep, highlightId, tbody };
}

/** Compares two cells for a table sort: numbers and strings in order, empty values first. */
export function compareCells(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
