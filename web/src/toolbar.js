// The actions on the shown tab, right of the tab strip: upload, download, the
// container's logs and stats, search the scrollback, share a watch link. Each is
// enabled only where it can work; upload, download and logs are not even shown where
// the policy does not allow them.

import { el } from './dom.js';
import { shareLink } from './share.js';

/** @typedef {import('./terminal-tab.js').TerminalTab} TerminalTab */
/** @typedef {(text: string, options?: {passing?: boolean}) => void} StatusLine */

export class TabToolbar {
  /**
   * fileRight(tab): what the person may do with files in the tab's container;
   * observeRight(tab): what they may see of it from outside (logs, stats).
   * @param {HTMLElement} node
   * @param {object} hooks
   * @param {import('./files.js').FileActions} hooks.files
   * @param {(tab: TerminalTab) => 'none' | 'download' | 'upload'} hooks.fileRight
   * @param {(tab: TerminalTab) => 'none' | 'stats' | 'logs'} hooks.observeRight
   * @param {StatusLine} hooks.onStatus
   */
  constructor(node, { files, fileRight, observeRight, onStatus }) {
    /** @type {TerminalTab | null} */
    this.tab = null;
    this.fileRight = fileRight;
    this.observeRight = observeRight;
    // The words hide on narrow windows, so each button is labelled in full.
    /** @type {(name: string, icon: string, word: string, title: string, run: (tab: TerminalTab) => void) => HTMLButtonElement} */
    const button = (name, icon, word, title, run) => {
      const b = el('button', { type: 'button', title, disabled: true, dataset: { action: name }, aria: { label: word } },
        el('span', { aria: { hidden: 'true' }, textContent: icon }), el('span', { className: 'word', textContent: ` ${word}` }));
      b.addEventListener('click', () => this.tab && run(this.tab));
      return b;
    };
    this.buttons = {
      upload: button('upload', '⇪', 'Upload', 'Upload files into this container (or drop them on the terminal)', (tab) => files.pickAndUpload(tab)),
      download: button('download', '⇩', 'Download', 'Download a file from this container', (tab) => files.download(tab)),
      logs: button('logs', '≣', 'Logs', 'Logs and stats of this container, beside the terminal', (tab) => tab.toggleObserve(observeRight(tab))),
      search: button('search', '⌕', 'Find', 'Search the scrollback (Ctrl+Shift+F)', (tab) => tab.searchBar.open()),
      share: button('share', '⇗', 'Share', 'Copy a read-only watch link', (tab) => this.share(tab, onStatus)),
    };
    node.append(...Object.values(this.buttons));
  }

  /**
   * @param {TerminalTab} tab
   * @param {StatusLine} onStatus
   */
  share(tab, onStatus) {
    if (tab.watchLink) shareLink(tab.watchLink, onStatus);
  }

  /** @param {TerminalTab | null} tab the one shown */
  update(tab) {
    this.tab = tab;
    const live = tab?.state === 'live';
    const right = tab?.where ? this.fileRight(tab) : null;
    this.buttons.upload.hidden = right !== null && right !== 'upload';
    this.buttons.download.hidden = right === 'none';
    this.buttons.upload.disabled = !tab?.where;
    this.buttons.download.disabled = !tab?.where;
    this.buttons.search.disabled = !tab;
    this.buttons.share.disabled = !(live && tab.watchLink);
    this.updateObserve(tab);
  }

  /**
   * The logs button says "Stats" where only stats are allowed; a panel whose right
   * was taken away (the policy changed) closes.
   * @param {TerminalTab | null} tab
   */
  updateObserve(tab) {
    const button = this.buttons.logs;
    const what = tab?.where ? this.observeRight(tab) : 'none';
    button.hidden = what === 'none';
    button.disabled = what === 'none';
    const word = what === 'stats' ? 'Stats' : 'Logs';
    button.setAttribute('aria-label', word);
    button.setAttribute('aria-pressed', String(Boolean(tab?.observe?.shown)));
    const label = button.querySelector('.word');
    if (label) label.textContent = ` ${word}`;
    if (what === 'none') tab?.closeObserve();
  }
}
