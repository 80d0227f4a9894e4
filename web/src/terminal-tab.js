// One tab: its header in the tab strip, its pane with the terminal, and the session
// shown in it. The header says where the session runs and how it is (connecting,
// live, reconnecting with a countdown, exited with its code); an ended session can be
// started again in the same pane, where the earlier output stays in the scrollback.

import { el } from './dom.js';
import { TerminalSession } from './terminal-session.js';
import { TerminalView } from './terminal-view.js';
import { SearchBar } from './search-bar.js';
import { ObservePanel } from './observe-panel.js';
import { dropZone } from './drop-zone.js';
import { watchRoute } from './router.js';

/** @typedef {import('./terminal-session.js').Target} Target */
/** @typedef {import('./terminal-session.js').OpenTarget} OpenTarget */
/** @typedef {import('./terminal-session.js').ExitMessage} ExitMessage */
/** @typedef {import('./terminal-session.js').State} State */

/**
 * The container a tab's shell runs in, and the user files move as (null: the
 * container's default user).
 * @typedef {{host: string, container: string, user: string | null}} Where
 */

let nextId = 1;

/** @type {Record<string, string>} */
const ENDINGS = {
  'container-stopped': 'the container stopped', 'host-lost': 'its host was lost',
  closed: 'it was closed', idle: 'nobody typed for too long',
};

/**
 * Short, for the tab: "exited 3", "host lost".
 * @param {ExitMessage} exit
 */
function exitText(exit) {
  if (exit.reason === 'exited') return `exited ${exit.code ?? '?'}`;
  return exit.reason.replace('-', ' ');
}

/**
 * A sentence, for the bar under an ended session.
 * @param {ExitMessage} exit
 */
function endText(exit) {
  if (exit.reason === 'exited') return `Session exited with code ${exit.code ?? 'unknown'}.`;
  const why = ENDINGS[exit.reason] ?? exit.reason;
  return `Session ended: ${why}${exit.message ? ` (${exit.message})` : ''}.`;
}

export class TerminalTab {
  /**
   * target: what TerminalSession takes. again: the open target that "start again"
   * uses, or null where there is none (a watcher cannot start someone's session).
   * canUpload(tab): whether files dropped on it may be uploaded.
   * @param {object} options
   * @param {HTMLElement} options.parent where its pane goes
   * @param {Target} options.target
   * @param {OpenTarget | null} options.again
   * @param {string} options.title
   * @param {import('./settings.js').Settings} options.settings
   * @param {(tab: TerminalTab) => void} options.onClose
   * @param {(tab: TerminalTab, dropped: import('./drop-zone.js').Dropped) => void} options.onDropFiles
   * @param {(tab: TerminalTab) => boolean} options.canUpload
   * @param {(tab: TerminalTab) => void} options.onChange its state or title changed
   * @param {(tab: TerminalTab, base: string) => string} options.distinctTitle `base`, or
   *   `base` made distinct from the other tabs' titles
   */
  constructor({ parent, target, again, title, settings, onClose, onDropFiles, canUpload, onChange, distinctTitle }) {
    this.id = nextId++;
    this.target = target;
    this.again = again;
    this.distinctTitle = distinctTitle;
    /** @type {string} what the title is made from, the container and host once known */
    this.base = title;
    this.title = distinctTitle(this, title);
    this.onChange = onChange;
    this.onClose = onClose;
    /** @type {import('./terminal-session.js').TerminalSession | null} null until start() */
    this.session = null;
    /** @type {string | undefined} a read-only link to the session, for its owner */
    this.watchLink = undefined;
    // Files move as the user the shell was opened as (null: the container's default).
    /** @type {Where | null} */
    // A tab opened by service learns its replica from `opened`.
    this.where = again?.host && again.container ? { host: again.host, container: again.container, user: again.user ?? null } : null;
    // Made by buildHeader() and buildBanner(), here:
    /** @type {HTMLSpanElement} */ this.dot;
    /** @type {HTMLSpanElement} */ this.label;
    /** @type {HTMLSpanElement} */ this.stateText;
    /** @type {HTMLSpanElement} */ this.watchers;
    /** @type {HTMLSpanElement} */ this.closeButton;
    /** @type {HTMLSpanElement} */ this.countdown;
    this.header = this.buildHeader();
    this.pane = el('div', { className: 'terminal-pane', id: `pane-${this.id}`, role: 'tabpanel', aria: { labelledby: `tab-${this.id}` } });
    const screen = el('div', { className: 'screen' });
    this.banner = this.buildBanner();
    this.endBar = el('div', { className: 'end-bar', role: 'status', hidden: true });
    this.pane.append(screen, this.banner, this.endBar);
    parent.append(this.pane);
    this.view = new TerminalView(screen, settings, { onSearch: () => this.searchBar.open() });
    this.view.fixedSize = 'mode' in target && target.mode === 'ro';
    this.searchBar = new SearchBar(this.pane, this.view, settings);
    /** @type {ObservePanel | null} the logs and stats beside the terminal, made when first shown */
    this.observe = null;
    if (!this.view.fixedSize) dropZone(this.pane, `Drop to upload into ${title}`, (dropped) => onDropFiles(this, dropped), () => canUpload(this));
  }

  buildHeader() {
    this.dot = el('span', { className: 'state connecting', aria: { hidden: 'true' } });
    this.label = el('span', { className: 'label' });
    this.showTitle();
    this.stateText = el('span', { className: 'state-text' });
    this.watchers = el('span', { className: 'watchers', hidden: true });
    // For the mouse only: a control inside a tab would be a control nested in another,
    // which assistive technologies cannot present. The keyboard closes a tab with
    // Delete, which the tab announces (aria-keyshortcuts).
    this.closeButton = el('span', { className: 'close', textContent: '×', title: 'Close (Delete)', aria: { hidden: 'true' } });
    this.closeButton.addEventListener('click', (event) => { event.stopPropagation(); this.onClose(this); });
    return el('div', { className: 'tab', id: `tab-${this.id}`, role: 'tab', tabIndex: -1, aria: { controls: `pane-${this.id}`, selected: 'false', keyshortcuts: 'Delete' } },
      this.dot, this.label, this.stateText, this.watchers, this.closeButton);
  }

  // Built once: the countdown changes its text four times a second, and a button
  // remade that often could vanish under a click.
  buildBanner() {
    this.countdown = el('span');
    const now = el('button', { type: 'button', textContent: 'Reconnect now' });
    now.addEventListener('click', () => { this.session?.reconnectNow(); this.view.focus(); });
    return el('div', { className: 'banner', role: 'status', hidden: true }, 'Connection lost: ', this.countdown, now);
  }

  /** @param {Target} [target] */
  start(target = this.target) {
    this.session = new TerminalSession({
      term: this.view.term, target,
      onState: (state, detail) => this.showState(state, detail),
      onInfo: (info) => this.showInfo(info),
    });
    this.session.connect();
  }

  restart() {
    if (!this.again) return;
    this.session?.dispose();
    this.view.term.write('\x1b[?25h\r\n\x1b[2m── started again ──\x1b[0m\r\n');
    this.start(this.again);
    this.view.focus();
  }

  get state() { return this.session?.state ?? 'connecting'; }

  // Whether closing it ends programs someone may still want.
  get live() { return this.session?.mode === 'rw' && (this.state === 'live' || this.state === 'reconnecting'); }

  /**
   * The word or two the tab shows next to its title.
   * @param {State} state
   * @param {string} detail
   */
  stateLabel(state, detail) {
    switch (state) {
      case 'connecting': return 'connecting…';
      case 'live': return this.session?.mode === 'ro' ? 'watching' : 'live';
      case 'reconnecting': return detail;
      case 'exited': return this.session?.exit ? exitText(this.session.exit) : 'exited';
      case 'detached': return 'taken over';
      case 'error': return 'failed';
      case 'signed-out': return 'signed out';
      default: return state;
    }
  }

  /**
   * @param {State} state
   * @param {string} detail
   */
  showState(state, detail) {
    const text = this.stateLabel(state, detail);
    this.dot.className = `state ${state}`;
    this.stateText.textContent = text;
    this.header.dataset.state = state;
    this.header.title = detail ? `${this.title}: ${detail}` : `${this.title}: ${text}`;
    this.showBanner(state, detail);
    this.showEnd(state, detail);
    this.onChange(this);
  }

  /**
   * @param {State} state
   * @param {string} detail
   */
  showBanner(state, detail) {
    this.banner.hidden = state !== 'reconnecting';
    this.countdown.textContent = `${detail}.`;
  }

  /**
   * @param {State} state
   * @param {string} detail
   */
  showEnd(state, detail) {
    this.endBar.hidden = !['exited', 'error', 'detached', 'signed-out'].includes(state);
    if (this.endBar.hidden) return;
    this.view.term.write('\x1b[?25l'); // a blinking cursor would say it still takes input
    const sentence = `${detail.replace(/\.$/, '')}.`;
    let why = sentence;
    if (state === 'exited' && this.session?.exit) why = endText(this.session.exit);
    if (state === 'error') why = `Could not open: ${sentence}`;
    const actions = [];
    if (state === 'signed-out') {
      // The program runs on for a while: signed in again, the page offers it to reattach.
      why = 'Your sign-in has ended; the session keeps running for a while.';
      actions.push(this.action('Sign in again', 'sign-in', () => location.reload()));
    } else if (this.again && state !== 'detached') actions.push(this.action(state === 'error' ? 'Try again' : 'Start again', 'again', () => this.restart()));
    actions.push(this.action('Close tab', 'close', () => this.onClose(this)));
    this.endBar.replaceChildren(el('span', { textContent: why }), ...actions);
  }

  /**
   * @param {string} text
   * @param {string} name its data-action
   * @param {() => void} run
   */
  action(text, name, run) {
    const button = el('button', { type: 'button', textContent: text, dataset: { action: name } });
    button.addEventListener('click', run);
    return button;
  }

  /** @param {import('./terminal-session.js').SessionInfo} info */
  showInfo({ opened, watchers }) {
    if (opened) {
      this.rename(`${opened.container}@${opened.host}`);
      this.showTitle(opened.mode === 'ro' ? ' (watching)' : '');
      if (this.again?.service) this.where = { host: opened.host, container: opened.container, user: this.again.user ?? null };
      this.where ??= opened.mode === 'rw' ? { host: opened.host, container: opened.container, user: null } : null;
      if (opened.watch) this.watchLink = `${location.origin}/${watchRoute(opened.session, opened.watch)}`;
    }
    if (watchers) {
      this.watchers.hidden = watchers.length === 0;
      this.watchers.textContent = `👁 ${watchers.length}`;
      this.watchers.title = `watching: ${watchers.map((w) => w.user).join(', ')}`;
    }
    this.onChange(this);
  }

  // A tab keeps its number ("(2)") while its base stays, through reconnects too.
  /** @param {string} base */
  rename(base) {
    if (base === this.base) return;
    this.base = base;
    this.title = this.distinctTitle(this, base);
  }

  // The part that tells tabs apart, " (2)", stays visible when the rest is cut short.
  showTitle(more = '') {
    const rest = this.title.slice(this.base.length) + more;
    const parts = [el('span', { className: 'base', textContent: this.base })];
    if (rest) parts.push(el('span', { className: 'nth', textContent: rest }));
    this.label.replaceChildren(...parts);
  }

  /**
   * Shows or hides the container's logs and stats beside the terminal; `what` is what
   * the policy lets the person see there.
   * @param {'none' | 'stats' | 'logs'} what
   */
  toggleObserve(what) {
    if (this.observe?.shown || what === 'none' || !this.where) {
      this.closeObserve();
      return;
    }
    this.observe ??= new ObservePanel(this.pane, this.title, () => this.closeObserve());
    this.observe.open({ host: this.where.host, container: this.where.container }, what);
    this.view.fitToPane();
    this.onChange(this);
  }

  closeObserve() {
    if (!this.observe?.shown) return;
    this.observe.close();
    this.view.fitToPane();
    this.view.focus();
    this.onChange(this);
  }

  /** @param {boolean} active */
  setActive(active) {
    this.header.setAttribute('aria-selected', String(active));
    this.header.tabIndex = active ? 0 : -1;
    this.pane.classList.toggle('active', active);
    if (!active) return;
    this.header.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    this.view.fitToPane();
  }

  // Ends the session (its programs too) and removes the tab from the page.
  dispose() {
    this.session?.close();
    this.session?.dispose();
    this.observe?.dispose();
    this.view.dispose();
    this.pane.remove();
    this.header.remove();
  }
}
