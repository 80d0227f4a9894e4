// The tab strip: which terminal tab is shown, moving between tabs with the keyboard
// (the WAI-ARIA tabs pattern: arrows, Home, End; Delete closes), titles that tell
// tabs apart ("web@local", "web@local (2)"), the menu of every tab when they do not
// all fit (tab-menu.js), asking before a tab with a running session is closed or the
// page is left, and fitting the shown terminal whenever its room changes.

import { confirmDialog } from './dialogs.js';
import { TabMenu } from './tab-menu.js';

/** @typedef {import('./terminal-tab.js').TerminalTab} TerminalTab */

export class TabStrip {
  /**
   * onSelect(tab): the person chose a tab. onClosed(next): a tab is gone and `next`
   * (or null) is the one to show instead.
   * @param {object} parts
   * @param {HTMLElement} parts.strip where the tabs' headers go
   * @param {HTMLElement} parts.panes where their panes are
   * @param {HTMLElement} parts.empty what shows when no tab does
   * @param {(tab: TerminalTab) => void} parts.onSelect
   * @param {(next: TerminalTab | null) => void} parts.onClosed
   */
  constructor({ strip, panes, empty, onSelect, onClosed }) {
    this.strip = strip;
    this.empty = empty;
    this.onSelect = onSelect;
    this.onClosed = onClosed;
    /** @type {TerminalTab[]} */
    this.tabs = [];
    /** @type {TerminalTab | null} */
    this.active = null;
    strip.addEventListener('keydown', (event) => this.onKey(event));
    this.menu = new TabMenu({ strip, tabs: () => this.tabs, active: () => this.active, onSelect });
    strip.after(this.menu.button);
    document.body.append(this.menu.menu);
    // A header that grows or shrinks (a longer title, a state) may push others out of view.
    this.headers = new ResizeObserver(() => this.menu.update());
    new ResizeObserver(() => this.active?.view.fitToPane()).observe(panes);
    window.addEventListener('beforeunload', (event) => {
      if (!this.tabs.some((tab) => tab.live)) return;
      event.preventDefault();
      event.returnValue = ''; // still what some browsers read to decide to ask
    });
  }

  /** @param {TerminalTab} tab */
  add(tab) {
    this.tabs.push(tab);
    this.strip.append(tab.header);
    tab.header.addEventListener('click', () => this.onSelect(tab));
    this.headers.observe(tab.header);
  }

  /**
   * A title no other tab has: `base` itself, else `base (2)`, `base (3)`... the lowest
   * number free, so two shells in one container can be told apart.
   * @param {TerminalTab} tab the one to be named
   * @param {string} base
   */
  distinctTitle(tab, base) {
    const taken = new Set(this.tabs.filter((t) => t !== tab).map((t) => t.title));
    let title = base;
    for (let n = 2; taken.has(title); n++) title = `${base} (${n})`;
    return title;
  }

  /**
   * Shows `tab`, or no tab at all (null): the page's home, with the container list.
   * @param {TerminalTab | null} tab
   */
  activate(tab) {
    this.active = tab;
    for (const t of this.tabs) t.setActive(t === tab);
    this.empty.hidden = tab !== null;
    tab?.view.focus();
    this.menu.update();
  }

  /** @param {TerminalTab} tab */
  async close(tab) {
    if (tab.live && !await confirmDialog(`End the session in ${tab.title} and the programs running in it?`, 'End session')) return;
    const index = this.tabs.indexOf(tab);
    if (index < 0) return; // two close requests raced through the question
    this.tabs.splice(index, 1);
    this.headers.unobserve(tab.header);
    tab.dispose();
    const next = this.active === tab ? this.tabs[Math.min(index, this.tabs.length - 1)] ?? null : this.active;
    this.onClosed(next);
  }

  /** @param {KeyboardEvent} event */
  onKey(event) {
    const index = this.tabs.findIndex((t) => t.header === event.target);
    if (index < 0) return;
    const last = this.tabs.length - 1;
    /** @type {Record<string, number>} */
    const moves = { ArrowLeft: index - 1, ArrowRight: index + 1, Home: 0, End: last };
    if (Object.hasOwn(moves, event.key)) {
      event.preventDefault();
      const next = this.tabs[(moves[event.key] + this.tabs.length) % this.tabs.length];
      this.onSelect(next);
      next.header.focus();
    } else if (event.key === 'Delete') {
      event.preventDefault();
      this.close(this.tabs[index]);
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.tabs[index].view.focus();
    }
  }
}
