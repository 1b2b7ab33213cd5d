/** Number and time formatting for the dashboard's cards, axes, legends and tooltips. */

const SI: [number, string][] = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];

function short(x: number): string {
  // 1 decimal below 100 (1.2 M, 12.5 k), none above (125 k), two digits below 1 (0.25);
  // trailing zeros dropped ("1.0" reads as "1").
  const abs = Math.abs(x);
  const text = abs >= 100 ? x.toFixed(0) : abs >= 1 || abs === 0 ? x.toFixed(1) : x.toPrecision(2);
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/** 1234567 → "1.2 M", 950 → "950", 0.25 → "0.25": fits an axis label at any magnitude. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  const abs = Math.abs(n);
  // From the largest prefix down; rounding may carry (999 960 → "1000 k"), then the
  // prefix above is the right one.
  const scales: [number, string][] = [[1, ""], ...SI.slice().reverse()];
  let index = scales.length - 1;
  while (index > 0 && abs < scales[index][0]) index--;
  let text = short(n / scales[index][0]);
  if (Math.abs(Number(text)) >= 1000 && index < scales.length - 1) {
    index++;
    text = short(n / scales[index][0]);
  }
  return scales[index][1] ? `${text} ${scales[index][1]}` : text;
}

const BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 3 * 1024³ → "3 GiB", 1536 → "1.5 KiB". */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  let value = n;
  let i = 0;
  while (Math.abs(value) >= 1024 && i < BINARY.length - 1) {
    value /= 1024;
    i++;
  }
  return `${i ? short(value) : Math.round(value)} ${BINARY[i]}`;
}

const pad = (n: number) => String(n).padStart(2, "0");

function clock(date: Date, seconds: boolean): string {
  const hm = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return seconds ? `${hm}:${pad(date.getSeconds())}` : hm;
}

/**
 * Labels of the time axis for ticks at `ticks` (Unix seconds) over a window of `span`
 * seconds: seconds shown only when the window is under 15 minutes, the date added where
 * the day changes. A label equal to the one before it is left blank, so a window holding a
 * single sample never draws a row of identical times.
 */
export function timeTickLabels(ticks: number[], span: number): string[] {
  const seconds = span < 15 * 60;
  let previousDay = "";
  let previous = "";
  return ticks.map((t, i) => {
    const date = new Date(t * 1000);
    const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
    let label = clock(date, seconds);
    if (span > 12 * 3600 && day !== previousDay && i > 0) {
      label = `${date.toLocaleDateString([], { month: "short", day: "numeric" })} ${label}`;
    }
    previousDay = day;
    if (label === previous) return "";
    previous = label;
    return label;
  });
}

/** A moment for a tooltip: local time, with seconds. */
export function formatMoment(t: number): string {
  return clock(new Date(t * 1000), true);
}

/** "1 h", "15 min", "90 s": a window's length in words. */
export function formatSpan(seconds: number): string {
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds)} s`;
}
