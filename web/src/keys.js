// Keyboard shortcuts: those read inside a terminal, before xterm.js turns keys into
// bytes, and the few that work anywhere else on the page.
//
// Inside a terminal, Ctrl-W, Ctrl-T and Ctrl-N belong to the shell (delete word,
// transpose, next line), so their default is prevented. Chromium and Firefox still
// keep these three for themselves in an ordinary window and never deliver them to the
// page; they reach the shell in an installed app window, and in Chromium in full
// screen, where the page asks for a keyboard lock (see settings-menu.js). Safari on a
// Mac leaves Ctrl alone, its shortcuts being on Cmd.

import { FONT_SIZES } from './settings.js';

const SHELL_KEYS = new Set(['w', 't', 'n']);
const FONT_KEYS = new Map([['+', 1], ['=', 1], ['-', -1], ['_', -1], ['0', 0]]);

/** @type {Record<string, 'search' | 'copy' | 'paste'>} */
const SHIFTED = { f: 'search', c: 'copy', v: 'paste' };

/**
 * @param {KeyboardEvent} event
 * @returns {'font' | 'search' | 'copy' | 'paste' | 'shell' | null}
 */
function terminalAction(event) {
  if (!event.ctrlKey || event.altKey || event.metaKey) return null;
  const key = event.key.toLowerCase();
  if (FONT_KEYS.has(key)) return 'font';
  if (event.shiftKey) return SHIFTED[key] ?? null;
  return SHELL_KEYS.has(key) ? 'shell' : null;
}

/**
 * The handler for term.attachCustomKeyEventHandler(): false keeps a key from the shell.
 * @param {object} keys
 * @param {import('@xterm/xterm').Terminal} keys.term
 * @param {import('./settings.js').Settings} keys.settings
 * @param {() => void} keys.onSearch opens the terminal's search bar
 * @returns {(event: KeyboardEvent) => boolean}
 */
export function terminalKeyHandler({ term, settings, onSearch }) {
  /** @type {Record<'font' | 'search' | 'copy', (event: KeyboardEvent) => void>} */
  const run = {
    font(event) {
      const step = FONT_KEYS.get(event.key.toLowerCase()) ?? 0;
      settings.set('fontSize', step === 0 ? FONT_SIZES.default : settings.get('fontSize') + step);
    },
    search() { onSearch(); },
    copy() {
      if (term.hasSelection()) navigator.clipboard?.writeText(term.getSelection()).catch(() => {});
    },
  };
  return (event) => {
    const action = terminalAction(event);
    if (action === null) return true;
    // The browser pastes into xterm.js's own text area, which then sends the text,
    // bracketed when the program asked for it.
    if (action === 'paste') return false;
    event.preventDefault();
    if (action === 'shell') return true;
    if (event.type === 'keydown') run[action](event);
    return false;
  };
}

/** @param {EventTarget | null} target */
function typingIn(target) {
  return target instanceof HTMLElement && (target.isContentEditable || target.matches('input, textarea, select'));
}

// "/" anywhere but in a text field (a terminal's input is a text area) jumps to the
// container search, as on GitHub and in many consoles.
/** @param {{focusSearch: () => void}} keys */
export function pageKeys({ focusSearch }) {
  document.addEventListener('keydown', (event) => {
    if (event.key !== '/' || event.ctrlKey || event.altKey || event.metaKey || typingIn(event.target)) return;
    event.preventDefault();
    focusSearch();
  });
}
