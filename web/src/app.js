// The page: containers by host on the left, terminals in tabs on the right.
import { Terminal } from '/vendor/xterm/lib/xterm.mjs';
import { FitAddon } from '/vendor/addon-fit/lib/addon-fit.mjs';
import { Unicode11Addon } from '/vendor/addon-unicode11/lib/addon-unicode11.mjs';
import { WebLinksAddon } from '/vendor/addon-web-links/lib/addon-web-links.mjs';
import { TerminalSession } from '/static/terminal-session.js';
import { ContainerList } from '/static/container-list.js';
import { signInForm, signOutButton, whoAmI } from '/static/sign-in.js';

const $ = (selector) => document.querySelector(selector);
const tabs = [];
let active = null;

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function watchLink(opened) {
  return `${location.origin}/#/watch/${encodeURIComponent(opened.session)}/${encodeURIComponent(opened.watch)}`;
}

// A tab: one xterm.js terminal and its session. target as TerminalSession takes it.
function openTab(target, title) {
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
  if (target.mode !== 'ro') fit.fit();
  const dot = el('span', { className: 'state' });
  const label = el('span', { className: 'label', textContent: title });
  const eye = el('span', { className: 'watchers', hidden: true });
  const share = el('button', { className: 'share', textContent: 'share', hidden: true, title: 'Copy a read-only watch link' });
  const close = el('button', { className: 'close', textContent: '×', title: 'End this session' });
  const tab = el('div', { className: 'tab', role: 'tab' }, dot, label, eye, share, close);
  const entry = { term, fit, pane, tab, title };
  entry.session = new TerminalSession({
    term, target,
    onState: (state, detail) => {
      dot.className = `state ${state}`;
      tab.title = detail ? `${state}: ${detail}` : state;
      tab.dataset.state = state;
    },
    onInfo: ({ opened, watchers }) => {
      if (opened) {
        label.textContent = `${opened.container}@${opened.host}${opened.mode === 'ro' ? ' (watching)' : ''}`;
        if (opened.watch) { share.hidden = false; entry.watchLink = watchLink(opened); }
      }
      if (watchers) {
        eye.hidden = watchers.length === 0;
        eye.textContent = `👁 ${watchers.length}`;
        eye.title = watchers.map((w) => w.user).join(', ');
      }
    },
  });
  tab.addEventListener('click', () => activate(entry));
  share.addEventListener('click', (event) => {
    event.stopPropagation();
    navigator.clipboard?.writeText(entry.watchLink).catch(() => {});
    $('#status').textContent = `watch link copied: ${entry.watchLink}`;
  });
  close.addEventListener('click', (event) => {
    event.stopPropagation();
    closeTab(entry);
  });
  $('#tabs').append(tab);
  tabs.push(entry);
  activate(entry);
  entry.session.connect();
  return entry;
}

function closeTab(entry) {
  const live = entry.session.state === 'live' && entry.session.mode === 'rw';
  if (live && !confirm('End this session and the programs running in it?')) return;
  entry.session.close();
  entry.session.dispose();
  entry.pane.remove();
  entry.tab.remove();
  tabs.splice(tabs.indexOf(entry), 1);
  if (active === entry) active = null;
  if (tabs.length) activate(tabs[tabs.length - 1]);
  else $('#empty').hidden = false;
}

function activate(entry) {
  active = entry;
  for (const t of tabs) {
    t.pane.classList.toggle('active', t === entry);
    t.tab.setAttribute('aria-selected', String(t === entry));
  }
  $('#empty').hidden = true;
  if (entry.session.mode !== 'ro') entry.fit.fit();
  entry.term.focus();
}

new ResizeObserver(() => active && active.session.mode !== 'ro' && active.fit.fit()).observe($('#terminals'));

// Sessions of this person that run with no tab attached (e.g. after a reload).
async function offerReattach() {
  const response = await fetch('/api/sessions');
  if (!response.ok) return;
  const { sessions } = await response.json();
  const waiting = sessions.filter((s) => !s.attached);
  const box = $('#reattach');
  box.replaceChildren();
  box.hidden = waiting.length === 0;
  if (!waiting.length) return;
  box.append(el('h2', { textContent: 'Your running sessions' }));
  for (const s of waiting) {
    const button = el('button', { textContent: `${s.container}@${s.host}`,
      title: `${s.command.join(' ')} — started ${new Date(s.started * 1000).toLocaleString()}` });
    button.dataset.session = s.session;
    button.addEventListener('click', () => {
      button.parentElement.remove();
      openTab({ session: s.session, mode: 'rw', offset: 0 }, `${s.container}@${s.host}`);
      if (!box.querySelector('li')) box.hidden = true;
    });
    box.append(el('li', {}, button));
  }
}

function route() {
  const watch = location.hash.match(/^#\/watch\/([^/]+)\/([^/]+)$/);
  if (watch) {
    const [session, token] = [decodeURIComponent(watch[1]), decodeURIComponent(watch[2])];
    openTab({ session, mode: 'ro', token, offset: 0 }, 'watching');
    history.replaceState(null, '', '/');
  }
}

// Read-only views for tests and tools.
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
  watchLink() { return active ? active.watchLink || '' : ''; },
  session() { return active ? active.session.session : null; },
  drop() { if (active) active.session.drop(); },
};

async function main() {
  let auth = await whoAmI();
  if (!auth.user) {
    await signInForm($('#containers'), auth);
    auth = await whoAmI();
  }
  $('header').append(signOutButton(auth));
  const list = new ContainerList($('#containers'), {
    onOpen: (host, container) => openTab({ host, container }, `${container}@${host}`),
    onStatus: (text) => { $('#status').textContent = text; },
  });
  await list.start();
  await offerReattach();
  route();
  window.addEventListener('hashchange', route);
}

main().catch((err) => { $('#status').textContent = `cannot start: ${err}`; });
