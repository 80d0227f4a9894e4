// The page: list containers by host, open terminals in tabs.
import { Terminal } from '/vendor/xterm/lib/xterm.mjs';
import { FitAddon } from '/vendor/addon-fit/lib/addon-fit.mjs';
import { Unicode11Addon } from '/vendor/addon-unicode11/lib/addon-unicode11.mjs';
import { WebLinksAddon } from '/vendor/addon-web-links/lib/addon-web-links.mjs';
import { TerminalSession } from '/static/terminal-session.js';
import { ContainerList } from '/static/container-list.js';

const $ = (selector) => document.querySelector(selector);
const tabs = [];
let active = null;

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function openTerminal(host, container) {
  const pane = el('div', { className: 'terminal-pane' });
  $('#terminals').append(pane);
  const term = new Terminal({ cursorBlink: true, allowProposedApi: true, scrollback: 10000,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace', fontSize: 14 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = '11';
  term.loadAddon(new WebLinksAddon());
  term.open(pane);
  fit.fit();
  const tab = el('button', { role: 'tab' }, el('span', { className: 'state' }), `${container}@${host}`);
  const entry = { host, container, term, fit, pane, tab };
  entry.session = new TerminalSession({
    term, host, container,
    onState: (state, detail) => {
      tab.querySelector('.state').className = `state ${state}`;
      tab.title = detail ? `${state}: ${detail}` : state;
    },
  });
  tab.addEventListener('click', () => activate(entry));
  $('#tabs').append(tab);
  tabs.push(entry);
  activate(entry);
  entry.session.connect();
}

function activate(entry) {
  active = entry;
  for (const t of tabs) {
    t.pane.classList.toggle('active', t === entry);
    t.tab.setAttribute('aria-selected', String(t === entry));
  }
  $('#empty').hidden = true;
  entry.fit.fit();
  entry.term.focus();
}

new ResizeObserver(() => active && active.fit.fit()).observe($('#terminals'));

// Read-only view of the screen for tests and tools: the visible lines of the active terminal.
window.dterm = {
  screenText() {
    if (!active) return '';
    const buffer = active.term.buffer.active;
    const lines = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
    return lines.join('\n');
  },
  state() { return active ? active.session.state : null; },
  size() { return active ? `${active.term.rows} ${active.term.cols}` : ''; },
};

const list = new ContainerList($('#containers'), {
  onOpen: openTerminal,
  onStatus: (text) => { $('#status').textContent = text; },
});
list.start().catch((err) => { $('#status').textContent = `cannot list containers: ${err}`; });
