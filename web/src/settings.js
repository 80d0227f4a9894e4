// Preferences of this browser (theme, font size, copy on select, screen reader mode,
// the terminals' renderer), kept in localStorage so they survive reloads. Listeners
// hear every change, so open terminals follow at once.

/**
 * @typedef {object} SettingValues
 * @property {'dark' | 'light'} theme
 * @property {number} fontSize
 * @property {boolean} copyOnSelect
 * @property {boolean} screenReader
 * @property {import('./renderer.js').RendererName} renderer
 */

/**
 * One change, [name, value], as listeners get it: their second argument's type
 * follows from the first.
 * @typedef {{ [K in keyof SettingValues]: [name: K, value: SettingValues[K]] }[keyof SettingValues]} SettingChange
 */

const KEY = 'dterm.settings';
export const RENDERERS = ['webgl', 'dom'];
export const FONT_SIZES = { min: 8, max: 32, default: 14 };

/** @returns {SettingValues} */
function defaults() {
  const light = window.matchMedia?.('(prefers-color-scheme: light)').matches;
  return { theme: light ? 'light' : 'dark', fontSize: FONT_SIZES.default, copyOnSelect: true, screenReader: false, renderer: 'webgl' };
}

/** @returns {SettingValues} */
function load() {
  try {
    const values = { ...defaults(), ...JSON.parse(localStorage.getItem(KEY) || '{}') };
    if (!RENDERERS.includes(values.renderer)) values.renderer = 'dom'; // 'canvas' is gone from xterm.js 6
    return values;
  } catch {
    // A private window may refuse storage, and a hand-edited value may not parse.
    return defaults();
  }
}

export class Settings {
  constructor() {
    this.values = load();
    /** @type {Set<(...change: SettingChange) => void>} */
    this.listeners = new Set();
  }

  /**
   * @template {keyof SettingValues} K
   * @param {K} name
   * @returns {SettingValues[K]}
   */
  get(name) { return this.values[name]; }

  /** @param {SettingChange} change */
  set(...change) {
    if (change[0] === 'fontSize') change = ['fontSize', Math.min(FONT_SIZES.max, Math.max(FONT_SIZES.min, change[1]))];
    const [name, value] = change;
    if (this.values[name] === value) return;
    Object.assign(this.values, { [name]: value });
    try { localStorage.setItem(KEY, JSON.stringify(this.values)); } catch { /* kept for this page only */ }
    for (const listener of this.listeners) listener(...change);
  }

  /**
   * Calls listener(name, value) on each change; returns a function that stops it.
   * @param {(...change: SettingChange) => void} listener
   * @returns {() => void}
   */
  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
