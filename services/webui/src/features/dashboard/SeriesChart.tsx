import { useEffect, useLayoutEffect, useRef } from "react";
import type uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatMoment, timeTickLabels } from "./format";

export interface ChartLine {
  label: string;
  color: string;
  values: (number | null)[];
}

interface Props {
  /** What the chart shows, for screen readers (with the latest values). */
  label: string;
  times: number[];
  /** The window the x axis spans (Unix seconds), whatever the samples cover. */
  start: number;
  end: number;
  lines: ChartLine[];
  formatValue: (v: number) => string;
  /** Ticks at binary steps (1, 2, 4… KiB) so byte labels come out round. */
  binary?: boolean;
  height?: number;
}

/** uPlot's module, fetched and evaluated once, after the dashboard's first paint: in the
 * page's own chunk its evaluation delayed that paint (the phone's LCP) by a long task. */
let uPlotModule: Promise<typeof uPlot> | null = null;
function loadUPlot(): Promise<typeof uPlot> {
  uPlotModule ??= import("uplot").then((m) => m.default);
  return uPlotModule;
}

const BINARY_INCRS = [0, 1, 2, 3, 4, 5].flatMap((k) => [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].map((m) => m * 1024 ** k));

const AXIS = { stroke: "#fde68a", grid: { stroke: "#1e293b" }, ticks: { stroke: "#334155" } };

/** Width of the widest tick label plus the tick and gap: labels never clip (uPlot's own recipe). */
function axisSize(u: uPlot, values: string[] | null, axisIdx: number, cycleNum: number): number {
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return (axis as unknown as { _size: number })._size;
  let size = (axis.ticks?.size ?? 10) + (axis.gap ?? 5);
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), "");
  if (longest) {
    u.ctx.font = (axis.font as unknown as string[] | undefined)?.[0] ?? "12px system-ui";
    size += u.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size) + 4;
}

/** A tooltip that follows the cursor: the time of the step and every line's value. */
function tooltipPlugin(formatValue: (v: number) => string): uPlot.Plugin {
  let tip: HTMLDivElement;
  return {
    hooks: {
      init: (u) => {
        tip = document.createElement("div");
        tip.className = "pointer-events-none absolute z-10 hidden rounded border border-slate-600 bg-slate-900 px-2 py-1 text-xs text-amber-50 shadow";
        tip.setAttribute("aria-hidden", "true");
        tip.dataset.testid = "chart-tooltip";
        u.over.appendChild(tip);
      },
      setCursor: (u) => {
        const { idx, left, top } = u.cursor;
        if (idx === null || idx === undefined || left === undefined || left < 0) {
          tip.classList.add("hidden");
          return;
        }
        // Text nodes only: a label (a rule name, say) is never read as markup.
        const when = document.createElement("div");
        when.className = "font-semibold";
        when.textContent = formatMoment(u.data[0][idx]);
        const rows = u.series.slice(1).map((s, i) => {
          const v = u.data[i + 1][idx];
          const row = document.createElement("div");
          const swatch = document.createElement("span");
          swatch.style.color = String(s.stroke);
          swatch.textContent = "■ ";
          row.append(swatch, `${s.label}: ${v === null || v === undefined ? "—" : formatValue(v)}`);
          return row;
        });
        tip.replaceChildren(when, ...rows);
        tip.classList.remove("hidden");
        const flip = left > u.over.clientWidth / 2;
        tip.style.left = flip ? "" : `${left + 12}px`;
        tip.style.right = flip ? `${u.over.clientWidth - left + 12}px` : "";
        tip.style.top = `${Math.max(0, (top ?? 0) - 10)}px`;
      },
    },
  };
}

/**
 * Lines over time (uPlot) with a legend of the latest values, a cursor tooltip, y labels
 * sized to fit (1.2 M, never clipped) and time ticks that suit the window's length.
 */
export function SeriesChart({ label, times, start, end, lines, formatValue, binary = false, height = 220 }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // What the chart's callbacks read when uPlot calls them: the props of the latest render,
  // copied after it commits (never written during render).
  const latestProps = useRef({ start, end, formatValue, lines, times });
  useLayoutEffect(() => {
    latestProps.current = { start, end, formatValue, lines, times };
  });
  const shape = lines.map((l) => `${l.label}:${l.color}`).join("|");

  useEffect(() => {
    const el = box.current!;
    let ro: ResizeObserver | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let cancelled = false;
    // Built in a task of its own, after the page has painted: constructing both charts in
    // the render's task was most of the dashboard's blocking time on a phone.
    void loadUPlot().then((UPlot) => {
      if (!cancelled) timer = setTimeout(() => build(UPlot), 0);
    });
    const build = (UPlot: typeof uPlot) => {
      const now = latestProps.current;
      const span = () => latestProps.current;
      const format = (v: number) => latestProps.current.formatValue(v);
      plot.current = new UPlot(
        {
          width: el.clientWidth || 600,
          height,
          legend: { show: false },
          cursor: { show: true, points: { show: true } },
          scales: {
            x: { time: true, range: () => [span().start, span().end] },
            y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
          },
          axes: [
            {
              ...AXIS,
              space: 80,
              values: (_u, splits) => timeTickLabels(splits, span().end - span().start),
            },
            {
              ...AXIS,
              values: (_u, splits) => splits.map(format),
              size: axisSize,
              ...(binary ? { incrs: BINARY_INCRS } : {}),
            },
          ],
          series: [{}, ...now.lines.map((l) => ({ label: l.label, stroke: l.color, width: 2, spanGaps: false, points: { show: false } }))],
          plugins: [tooltipPlugin(format)],
        },
        [now.times, ...now.lines.map((l) => l.values)] as uPlot.AlignedData,
        el,
      );
      ro = typeof ResizeObserver !== "undefined"
        ? new ResizeObserver(() => plot.current?.setSize({ width: el.clientWidth, height }))
        : null;
      ro?.observe(el);
    };
    return () => {
      cancelled = true;
      clearTimeout(timer);
      ro?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of lines changes; data flows in through setData below.
  }, [shape, height, binary]);

  useEffect(() => {
    plot.current?.setData([times, ...lines.map((l) => l.values)] as uPlot.AlignedData);
  }, [times, lines, start, end]);

  const latest = lines.map((l) => {
    const last = [...l.values].reverse().find((v) => v !== null);
    return { ...l, latest: last === undefined || last === null ? "—" : formatValue(last) };
  });
  const summary = latest.map((l) => `${l.label} ${l.latest}`).join(", ");

  return (
    <figure className="relative">
      {/* Sized before uPlot draws into it, so the page does not shift when it does. */}
      <div ref={box} role="img" aria-label={`${label}; latest: ${summary}`} style={{ minHeight: height }} />
      <figcaption>
        <ul className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-sm" aria-label={`${label} legend`}>
          {latest.map((l) => (
            <li key={l.label} className="flex items-center gap-1">
              <span aria-hidden className="inline-block h-2 w-4 rounded" style={{ background: l.color }} />
              <span>{l.label}</span>
              <span className="font-mono text-amber-50">{l.latest}</span>
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
