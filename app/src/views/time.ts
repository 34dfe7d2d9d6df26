import { html, type Html } from "./html.js";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

/**
 * "25 Nov 2026, 09:05 UTC". Spelled out by hand rather than with Intl, so the text does not
 * depend on the ICU data a Node build carries; the server has no idea of the reader's zone.
 */
export function readableTime(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()] ?? ""} ${d.getUTCFullYear()}, ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

/** The readable text, with the exact instant kept machine-readable in `datetime`. */
export function timeTag(d: Date): Html {
  return html`<time datetime="${d.toISOString()}">${readableTime(d)}</time>`;
}
