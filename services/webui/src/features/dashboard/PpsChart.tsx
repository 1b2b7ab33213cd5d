import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

/** Packets per second over time: a small uPlot line chart that follows its container's width. */
export function PpsChart({ times, values }: { times: number[]; values: number[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current!;
    const axis = { stroke: "#fde68a", grid: { stroke: "#1e293b" }, ticks: { stroke: "#334155" } };
    plot.current = new uPlot(
      {
        width: el.clientWidth || 600,
        height: 220,
        legend: { show: false },
        cursor: { show: true },
        scales: { x: { time: true } },
        axes: [
          {
            ...axis,
            space: 90,
            // Wall-clock labels; uPlot's defaults show sub-second ticks while the window is short.
            values: (_u, splits) => splits.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })),
          },
          { ...axis, size: 60 },
        ],
        series: [{}, { label: "packets/s", stroke: "#38bdf8", width: 2, fill: "rgba(56,189,248,0.15)" }],
      },
      [[], []],
      el,
    );
    const ro = typeof ResizeObserver !== "undefined"
      ? new ResizeObserver(() => plot.current?.setSize({ width: el.clientWidth, height: 220 }))
      : null;
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData([times, values]);
  }, [times, values]);

  return <div ref={box} role="img" aria-label={`Packets per second, latest ${values.at(-1) ?? 0}`} />;
}
