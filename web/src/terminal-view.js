// One xterm.js terminal on the page and its addons: fit, unicode 11 widths, links,
// scrollback search, and its renderer (renderer.js). It follows the browser's settings
// (theme, font size, screen reader mode, renderer) and knows nothing about sessions or
// the network.

import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { SearchAddon } from '@xterm/addon-search';
import { TerminalRenderer } from './renderer.js';
import { TERMINAL_FONT, THEMES } from './themes.js';
import { terminalKeyHandler } from './keys.js';

export class TerminalView {
  /**
   * keys: {onSearch} for the shortcuts that open page UI from inside the terminal.
   * @param {HTMLElement} parent
   * @param {import('./settings.js').Settings} settings
   * @param {{onSearch: () => void}} keys
   */
  constructor(parent, settings, keys) {
    this.settings = settings;
    this.fixedSize = false;
    this.term = new Terminal({
      cursorBlink: true, allowProposedApi: true, scrollback: 10000, fontFamily: TERMINAL_FONT,
      fontSize: settings.get('fontSize'), theme: THEMES[settings.get('theme')],
      screenReaderMode: settings.get('screenReader'),
    });
    this.fit = new FitAddon();
    this.search = new SearchAddon({ highlightLimit: 2000 });
    for (const addon of [this.fit, this.search, new Unicode11Addon(), new WebLinksAddon()]) this.term.loadAddon(addon);
    this.term.unicode.activeVersion = '11';
    this.term.open(parent);
    this.drawing = new TerminalRenderer(this.term);
    this.drawing.use(settings.get('renderer'));
    this.term.attachCustomKeyEventHandler(terminalKeyHandler({ term: this.term, settings, ...keys }));
    this.disposables = [
      this.term.onSelectionChange(() => this.copySelection()),
      { dispose: settings.onChange((...change) => this.apply(...change)) },
    ];
  }

  /** @returns {import('./renderer.js').RendererName} what draws it now */
  get renderer() { return this.drawing.name; }

  /** @param {import('./settings.js').SettingChange} change */
  apply(...change) {
    const [name, value] = change;
    if (name === 'theme') this.term.options.theme = THEMES[value];
    if (name === 'screenReader') this.term.options.screenReaderMode = value;
    if (name === 'renderer') this.drawing.use(value);
    if (name === 'fontSize') {
      this.term.options.fontSize = value;
      this.fitToPane();
    }
  }

  copySelection() {
    if (!this.settings.get('copyOnSelect') || !this.term.hasSelection()) return;
    navigator.clipboard?.writeText(this.term.getSelection()).catch(() => {
      // Without clipboard permission the selection stays, and Ctrl+Shift+C still copies.
    });
  }

  // Watchers keep the owner's size, so only owners follow their own pane.
  fitToPane() {
    if (!this.fixedSize) this.fit.fit();
  }

  focus() { this.term.focus(); }

  dispose() {
    this.disposables.forEach((d) => d.dispose());
    this.drawing.dispose();
    this.term.dispose();
  }
}
