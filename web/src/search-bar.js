// The scrollback search bar of one terminal (Ctrl+Shift+F), on the search addon: finds
// as you type, Enter for the next match, Shift+Enter for the previous, Escape closes.

import { el } from './dom.js';
import { SEARCH_DECORATIONS } from './themes.js';

/**
 * @param {string} label
 * @param {string} title
 */
function toggle(label, title) {
  const box = el('input', { type: 'checkbox' });
  return { box, node: el('label', { className: 'toggle', title }, box, label) };
}

export class SearchBar {
  /**
   * @param {HTMLElement} pane where the bar goes
   * @param {import('./terminal-view.js').TerminalView} view
   * @param {import('./settings.js').Settings} settings
   */
  constructor(pane, view, settings) {
    this.view = view;
    this.settings = settings;
    this.input = el('input', { type: 'search', placeholder: 'Search scrollback', aria: { label: 'Search the scrollback' } });
    this.count = el('span', { className: 'count', aria: { live: 'polite' } });
    this.caseSensitive = toggle('Aa', 'Match case');
    this.regex = toggle('.*', 'Regular expression');
    /** @type {(text: string, label: string, action: () => void) => HTMLButtonElement} */
    const button = (text, label, action) => {
      const node = el('button', { type: 'button', textContent: text, aria: { label } });
      node.addEventListener('click', action);
      return node;
    };
    this.node = el('div', { className: 'search-bar', role: 'search', hidden: true },
      this.input, this.count, this.caseSensitive.node, this.regex.node,
      button('↑', 'Previous match', () => this.find(-1)), button('↓', 'Next match', () => this.find(1)),
      button('×', 'Close search', () => this.close()));
    pane.append(this.node);
    this.listen();
  }

  listen() {
    this.input.addEventListener('input', () => this.find(1, true));
    for (const { box } of [this.caseSensitive, this.regex]) box.addEventListener('change', () => this.find(1, true));
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') { event.preventDefault(); this.find(event.shiftKey ? -1 : 1); }
      if (event.key === 'Escape') { event.preventDefault(); this.close(); }
    });
    this.view.search.onDidChangeResults(({ resultIndex, resultCount }) => {
      this.count.textContent = this.input.value ? this.describe(resultIndex, resultCount) : '';
    });
  }

  /**
   * @param {number} index of the shown match, -1 when not known
   * @param {number} count
   */
  describe(index, count) {
    if (count === 0) return 'no match';
    return index < 0 ? `${count}+ matches` : `${index + 1} of ${count}`;
  }

  /**
   * @param {1 | -1} direction
   * @param {boolean} [incremental] a search as one types, from where the last one was
   */
  find(direction, incremental = false) {
    const options = {
      incremental, caseSensitive: this.caseSensitive.box.checked, regex: this.regex.box.checked,
      decorations: SEARCH_DECORATIONS[this.settings.get('theme')],
    };
    const { search } = this.view;
    if (!this.input.value) { search.clearDecorations(); this.count.textContent = ''; return; }
    if (direction > 0) search.findNext(this.input.value, options);
    else search.findPrevious(this.input.value, options);
  }

  open() {
    this.node.hidden = false;
    const selected = this.view.term.getSelection();
    if (selected && !selected.includes('\n')) this.input.value = selected;
    this.input.focus();
    this.input.select();
    if (this.input.value) this.find(1, true);
  }

  close() {
    this.node.hidden = true;
    this.view.search.clearDecorations();
    this.view.focus();
  }
}
