// Preferences of this browser (theme, font size, copy on select, screen reader mode),
// kept in localStorage so they survive reloads. Listeners hear every change, so open
// terminals follow at once.

const KEY = 'dterm.settings';
export const FONT_SIZES = { min: 8, max: 32, default: 14 };

function defaults() {
  const light = window.matchMedia?.('(prefers-color-scheme: light)').matches;
  return { theme: light ? 'light' : 'dark', fontSize: FONT_SIZES.default, copyOnSelect: true, screenReader: false };
}

function load() {
  try {
    return { ...defaults(), ...JSON.parse(localStorage.getItem(KEY) || '{}') };
  } catch {
    // A private window may refuse storage, and a hand-edited value may not parse.
    return defaults();
  }
}

export class Settings {
  constructor() {
    this.values = load();
    this.listeners = new Set();
  }

  get(name) { return this.values[name]; }

  set(name, value) {
    if (name === 'fontSize') value = Math.min(FONT_SIZES.max, Math.max(FONT_SIZES.min, value));
    if (this.values[name] === value) return;
    this.values[name] = value;
    try { localStorage.setItem(KEY, JSON.stringify(this.values)); } catch { /* kept for this page only */ }
    for (const listener of this.listeners) listener(name, value);
  }

  // Calls listener(name, value) on each change; returns a function that stops it.
  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
