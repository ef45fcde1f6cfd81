/**
 * Read-only counters on `window.__ttsDemo`, so tests (and curious people in the console) can see from outside
 * what the page is doing: stream state, bytes, and the samples the player really rendered.
 */
type Published = Record<string, unknown>;

declare global {
  interface Window {
    __ttsDemo?: Readonly<Published>;
  }
}

export function publish(key: string, value: unknown): void {
  if (typeof window === 'undefined') return;
  window.__ttsDemo = Object.freeze({ ...window.__ttsDemo, [key]: value });
}
