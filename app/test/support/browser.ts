/**
 * Headless Chromium from Debian's `chromium` package, driven by puppeteer-core (which never
 * downloads a browser of its own). CHROMIUM_PATH points at another binary.
 */
import { existsSync } from "node:fs";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

// The little of the DOM that the functions run in the page use. tsconfig.json leaves the
// DOM library out so that app code cannot reach for `document`; these names are local to this module.
interface Box {
  left: number;
  right: number;
  width: number;
  height: number;
}
interface PageElement {
  tagName: string;
  className: unknown;
  textContent: string | null;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): Box;
}
declare const document: {
  documentElement: { scrollWidth: number; clientWidth: number };
  querySelectorAll(selector: string): Iterable<PageElement>;
};
declare function getComputedStyle(el: PageElement): { getPropertyValue(name: string): string };

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Why this machine cannot run the browser tests, or undefined. */
export function missingChromium(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium)`;
}

export async function launchChromium(): Promise<Browser> {
  const missing = missingChromium();
  if (missing !== undefined) throw new Error(missing);
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Chromium will not start its sandbox as root (CI runs as root).
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
}

export interface Overflow {
  /** document.documentElement.scrollWidth: wider than the viewport means a horizontal scrollbar. */
  scrollWidth: number;
  clientWidth: number;
  /** Every visible element whose box sticks out of [0, width], as `tag.class left..right`. */
  outside: string[];
}

/** Measures the laid-out page in the browser: DOM boxes, not pixels. */
export async function measureOverflow(page: Page, width: number): Promise<Overflow> {
  return page.evaluate((width) => {
    const limit = Math.min(width, document.documentElement.clientWidth);
    const outside: string[] = [];
    for (const el of document.querySelectorAll("body, body *")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < -0.5 || r.right > limit + 0.5 || r.width > limit + 0.5) {
        const cls = typeof el.className === "string" && el.className ? `.${el.className.replaceAll(" ", ".")}` : "";
        outside.push(`${el.tagName.toLowerCase()}${cls} ${Math.round(r.left)}..${Math.round(r.right)}`);
      }
    }
    return { scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth, outside };
  }, width);
}

/** The CSS that makes two controls look alike: same box, same type. */
export const SHAPE = [
  "padding-top",
  "padding-right",
  "padding-bottom",
  "padding-left",
  "border-top-width",
  "border-top-style",
  "border-top-left-radius",
  "font-size",
  "font-weight",
  "line-height",
  "text-decoration-line",
] as const;

export interface Found {
  text: string;
  /** Every attribute asked for, null when absent. */
  attrs: Record<string, string | null>;
  height: number;
  width: number;
  /** The computed SHAPE properties. */
  shape: Record<string, string>;
}

/** What the browser laid out for every element matching `selector`. */
export async function findAll(page: Page, selector: string, attrs: readonly string[] = []): Promise<Found[]> {
  return page.evaluate(
    (selector, attrs, shape) =>
      [...document.querySelectorAll(selector)].map((el) => {
        const r = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        return {
          text: (el.textContent ?? "").trim(),
          attrs: Object.fromEntries(attrs.map((a) => [a, el.getAttribute(a)])),
          height: r.height,
          width: r.width,
          shape: Object.fromEntries(shape.map((p) => [p, style.getPropertyValue(p)])),
        };
      }),
    selector,
    attrs,
    SHAPE,
  );
}
