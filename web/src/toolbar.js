// The actions on the shown tab, right of the tab strip: upload, download, search the
// scrollback, share a watch link. Each is enabled only where it can work.

import { el } from '/static/dom.js';

export class TabToolbar {
  constructor(node, { files, onStatus }) {
    this.tab = null;
    // The words hide on narrow windows, so each button is labelled in full.
    const button = (name, icon, word, title, run) => {
      const b = el('button', { type: 'button', title, disabled: true, dataset: { action: name }, aria: { label: word } },
        el('span', { aria: { hidden: 'true' }, textContent: icon }), el('span', { className: 'word', textContent: ` ${word}` }));
      b.addEventListener('click', () => this.tab && run(this.tab));
      return b;
    };
    this.buttons = {
      upload: button('upload', '⇪', 'Upload', 'Upload files into this container (or drop them on the terminal)', (tab) => files.pickAndUpload(tab)),
      download: button('download', '⇩', 'Download', 'Download a file from this container', (tab) => files.download(tab)),
      search: button('search', '⌕', 'Find', 'Search the scrollback (Ctrl+Shift+F)', (tab) => tab.searchBar.open()),
      share: button('share', '⇗', 'Share', 'Copy a read-only watch link', (tab) => this.share(tab, onStatus)),
    };
    node.append(...Object.values(this.buttons));
  }

  share(tab, onStatus) {
    navigator.clipboard?.writeText(tab.watchLink).catch(() => {});
    onStatus(`Watch link copied: ${tab.watchLink}`, { passing: true });
  }

  update(tab) {
    this.tab = tab;
    const live = tab?.state === 'live';
    this.buttons.upload.disabled = !tab?.where;
    this.buttons.download.disabled = !tab?.where;
    this.buttons.search.disabled = !tab;
    this.buttons.share.disabled = !(live && tab.watchLink);
  }
}
