// The side panel with the containers. On a wide window it sits left of the terminals
// and can be folded away for room; on a narrow one it slides over them, and gets out
// of the way once a terminal is shown.

const NARROW = '(max-width: 760px)';

export class Sidebar {
  /**
   * @param {HTMLElement} panel
   * @param {HTMLElement} button the one that shows and hides it
   */
  constructor(panel, button) {
    this.panel = panel;
    this.button = button;
    this.narrow = window.matchMedia(NARROW);
    this.folded = false; // wide windows
    this.shown = true; // narrow windows: the page starts with the list (or sign-in)
    button.addEventListener('click', () => {
      this.set(!this.isOpen());
      if (this.isOpen() && this.narrow.matches) panel.querySelector('input')?.focus();
    });
    this.narrow.addEventListener('change', () => this.sync());
    panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.narrow.matches && !event.defaultPrevented) this.set(false);
    });
    this.sync();
  }

  isOpen() { return this.narrow.matches ? this.shown : !this.folded; }

  /** @param {boolean} open */
  set(open) {
    if (this.narrow.matches) this.shown = open;
    else this.folded = !open;
    this.sync();
  }

  // On a narrow window a terminal needs the whole width; home needs the list.
  /** @param {boolean} tabShown */
  follow(tabShown) {
    if (this.narrow.matches) this.set(!tabShown);
  }

  sync() {
    const open = this.isOpen();
    document.body.classList.toggle('nav-folded', !this.narrow.matches && this.folded);
    document.body.classList.toggle('nav-shown', this.narrow.matches && this.shown);
    this.button.setAttribute('aria-expanded', String(open));
    // A closed panel must not take keyboard focus either.
    this.panel.inert = !open;
  }
}
