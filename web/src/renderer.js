// Which renderer draws a terminal: WebGL where it works, else xterm.js's own DOM
// renderer, which takes over by itself once the WebGL addon is disposed. xterm.js 6
// has no canvas renderer any more (@xterm/addon-canvas stopped at xterm.js 5), so
// the setting offers WebGL and DOM.
//
// WebGL is given up when the addon cannot start (no WebGL2), when its context is lost
// (a GPU reset, too many contexts), and when the browser's device pixel sizes disagree
// with its devicePixelRatio: headless Chromium at a ratio of 1.5 or 2 reports CSS sizes
// as device sizes, the addon sizes its drawing buffer by them and its text lands
// outside the buffer, leaving a blank terminal.

import { WebglAddon } from '@xterm/addon-webgl';

/** @typedef {'webgl' | 'dom'} RendererName */

// Device pixels may differ from CSS pixels times the ratio by rounding, never more.
const ROUNDING = 2;

/** @type {string} why WebGL does not work in this browser at all ('' while it may) */
let problem = '';

/** Why terminals in this page are not drawn with WebGL, or '' when nothing stops it. */
export function webglProblem() { return problem; }

/**
 * Whether the browser's device pixel size of an element agrees with its CSS size times
 * devicePixelRatio (true where the browser does not report device pixel sizes).
 * @param {ResizeObserverEntry} entry
 */
function pixelsAgree(entry) {
  const device = entry.devicePixelContentBoxSize?.[0];
  const css = entry.contentBoxSize?.[0];
  if (!device || !css || css.inlineSize === 0 || css.blockSize === 0) return true;
  const ratio = window.devicePixelRatio;
  return Math.abs(device.inlineSize - css.inlineSize * ratio) <= ROUNDING
    && Math.abs(device.blockSize - css.blockSize * ratio) <= ROUNDING;
}

export class TerminalRenderer {
  /** @param {import('@xterm/xterm').Terminal} term an opened one */
  constructor(term) {
    this.term = term;
    /** @type {WebglAddon | null} */
    this.webgl = null;
    /** @type {ResizeObserver | null} */
    this.watch = null;
    /** @type {RendererName} */
    this.name = 'dom';
  }

  /** @param {RendererName} preference */
  use(preference) {
    if (preference === 'webgl' && !problem) this.startWebgl();
    else this.stopWebgl();
  }

  startWebgl() {
    if (this.webgl) return;
    const addon = new WebglAddon();
    try {
      this.term.loadAddon(addon);
    } catch (err) {
      this.giveUp(`WebGL cannot start in this browser (${/** @type {Error} */ (err).message})`, true);
      return;
    }
    addon.onContextLoss(() => this.giveUp('its WebGL context was lost', false));
    this.webgl = addon;
    this.name = 'webgl';
    this.watchPixels();
  }

  // Checked on every resize too: a window moved to another screen changes the ratio.
  watchPixels() {
    const screen = this.term.element?.querySelector('.xterm-screen');
    if (!screen) return;
    this.watch = new ResizeObserver((entries) => {
      if (!entries.every(pixelsAgree)) this.giveUp('the browser reports device pixel sizes that disagree with its pixel ratio', true);
    });
    try {
      this.watch.observe(screen, { box: 'device-pixel-content-box' });
    } catch {
      this.watch.disconnect(); // a browser without device pixel sizes cannot disagree
      this.watch = null;
    }
  }

  stopWebgl() {
    this.watch?.disconnect();
    this.watch = null;
    this.webgl?.dispose();
    this.webgl = null;
    this.name = 'dom';
  }

  /**
   * @param {string} why
   * @param {boolean} everywhere whether it holds for every terminal of the page
   */
  giveUp(why, everywhere) {
    if (everywhere) problem = why;
    this.stopWebgl();
    console.info(`dterm: drawing the terminal with the DOM renderer: ${why}`);
  }

  dispose() {
    this.watch?.disconnect();
    this.watch = null;
  }
}
