// The menu of every open tab, for when the strip cannot show them all: its button
// appears only then, right of the strip, and says how many do not fit. A popover,
// so the browser handles clicks outside and the top layer; the keyboard follows the
// WAI-ARIA menu button pattern (Enter, Space or Down opens it on the first item,
// Up on the last; arrows, Home and End move; Escape or Tab closes it).

import { el } from './dom.js';

/** @typedef {import('./terminal-tab.js').TerminalTab} TerminalTab */

export class TabMenu {
  /**
   * onSelect(tab): the person picked a tab from the menu.
   * @param {object} parts
   * @param {HTMLElement} parts.strip the tab strip (its headers scroll in it)
   * @param {() => TerminalTab[]} parts.tabs every tab, in strip order
   * @param {() => TerminalTab | null} parts.active the one shown
   * @param {(tab: TerminalTab) => void} parts.onSelect
   */
  constructor({ strip, tabs, active, onSelect }) {
    this.strip = strip;
    this.tabs = tabs;
    this.active = active;
    this.onSelect = onSelect;
    this.menu = el('div', { id: 'tab-menu', className: 'tab-menu', popover: 'auto', role: 'menu', aria: { label: 'Open terminals' } });
    this.button = el('button', { type: 'button', id: 'tab-overflow', className: 'tab-overflow', hidden: true, aria: { haspopup: 'menu', expanded: 'false', controls: 'tab-menu' } });
    this.button.setAttribute('popovertarget', 'tab-menu');
    this.button.addEventListener('keydown', (event) => this.onButtonKey(event));
    this.menu.addEventListener('beforetoggle', (event) => { if (/** @type {ToggleEvent} */ (event).newState === 'open') this.fill(); });
    this.menu.addEventListener('toggle', (event) => this.toggled(/** @type {ToggleEvent} */ (event)));
    this.menu.addEventListener('keydown', (event) => this.onMenuKey(event));
    strip.addEventListener('scroll', () => this.update(), { passive: true });
    new ResizeObserver(() => this.update()).observe(strip);
    /** @type {'first' | 'last'} where focus goes when the menu opens */
    this.focusOnOpen = 'first';
  }

  // The tabs whose header the strip does not show in full.
  hidden() {
    const box = this.strip.getBoundingClientRect();
    return this.tabs().filter((tab) => {
      const header = tab.header.getBoundingClientRect();
      return header.left < box.left - 1 || header.right > box.right + 1;
    });
  }

  // Called whenever tabs come, go, get renamed or the strip scrolls or resizes.
  update() {
    const count = this.hidden().length;
    this.button.hidden = count === 0;
    this.button.textContent = `+${count} ▾`;
    const all = this.tabs().length;
    this.button.setAttribute('aria-label', `${count} more ${count === 1 ? 'tab' : 'tabs'}: list all ${all}`);
    this.button.title = 'Every open terminal';
    if (count === 0 && this.menu.matches(':popover-open')) this.menu.hidePopover();
  }

  fill() {
    const active = this.active();
    const hidden = new Set(this.hidden());
    const items = this.tabs().map((tab) => {
      const item = el('button', { type: 'button', role: 'menuitem', tabIndex: -1, className: hidden.has(tab) ? 'out-of-view' : '', dataset: { tab: tab.id } },
        el('span', { className: `state ${tab.state}`, aria: { hidden: 'true' } }),
        tab.label.cloneNode(true),
        el('span', { className: 'state-text', textContent: tab.stateText.textContent }));
      if (tab === active) item.setAttribute('aria-current', 'true');
      item.addEventListener('click', () => { this.menu.hidePopover(); this.onSelect(tab); });
      return item;
    });
    this.menu.replaceChildren(...items);
    this.place();
  }

  // Under the button, its right edge at the button's, never wider than the room left
  // of that edge: a narrow window puts the button near its left side.
  place() {
    const box = this.button.getBoundingClientRect();
    const right = Math.max(4, window.innerWidth - box.right);
    this.menu.style.top = `${box.bottom + 4}px`;
    this.menu.style.right = `${right}px`;
    this.menu.style.maxWidth = `min(28rem, ${window.innerWidth - right - 8}px)`;
    this.menu.style.minWidth = `min(16rem, ${window.innerWidth - right - 8}px)`;
  }

  /** @param {ToggleEvent} event */
  toggled(event) {
    const open = event.newState === 'open';
    this.button.setAttribute('aria-expanded', String(open));
    if (open) {
      const items = this.items();
      (this.focusOnOpen === 'last' ? items[items.length - 1] : items[0])?.focus();
      this.focusOnOpen = 'first';
    } else if (this.menu.contains(document.activeElement)) {
      this.button.focus();
    }
  }

  /** @returns {HTMLButtonElement[]} */
  items() { return [...this.menu.querySelectorAll('button')]; }

  /** @param {KeyboardEvent} event */
  onButtonKey(event) {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    event.preventDefault();
    this.focusOnOpen = event.key === 'ArrowUp' ? 'last' : 'first';
    this.menu.showPopover();
  }

  /** @param {KeyboardEvent} event */
  onMenuKey(event) {
    const items = this.items();
    const index = items.findIndex((item) => item === document.activeElement);
    /** @type {Record<string, number>} */
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 };
    if (Object.hasOwn(moves, event.key)) {
      event.preventDefault();
      items[(moves[event.key] + items.length) % items.length]?.focus();
    } else if (event.key === 'Tab') {
      event.preventDefault();
      this.menu.hidePopover();
    }
  }
}
