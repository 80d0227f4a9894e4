// The container browser: hosts as collapsible groups, their containers with state,
// image and a live uptime, filtered by the search box as you type. Keyboard: arrows
// move (one item in the tab order, the WAI-ARIA roving pattern), Left and Right fold a
// host, Enter opens, Shift+Enter asks how to open. Stopped containers are listed but
// cannot be opened.

import { el } from './dom.js';
import { ago } from './format.js';
import { matches, parseQuery } from './container-filter.js';

const COLLAPSED = 'dterm.collapsed-hosts';

function loadCollapsed() {
  try { return new Set(JSON.parse(localStorage.getItem(COLLAPSED) || '[]')); } catch { return new Set(); }
}

// Text with a time in it, refreshed every second by tick(): "Up 5 min", "Exited (1) 2 h ago".
function since(prefix, seconds, suffix = '') {
  return el('span', { className: 'since', dataset: { prefix, since: seconds, suffix } });
}

function refresh(node, now) {
  const { prefix, since: at, suffix } = node.dataset;
  node.textContent = `${prefix}${ago(now - Number(at))}${suffix}`;
}

function status(c) {
  if (c.state === 'running') return since('Up ', c.started_at);
  if (c.state === 'exited' && c.finished_at) return since(`Exited (${c.exit_code}) `, c.finished_at, ' ago');
  return el('span', { textContent: c.state });
}

export class ContainerList {
  constructor({ nav, search, summary, store, onOpen, onOpenWith }) {
    Object.assign(this, { nav, search, summary, store, onOpen, onOpenWith });
    this.collapsed = loadCollapsed();
    this.terms = [];
    this.current = null; // data-key of the item in the tab order
    this.pending = false;
    search.addEventListener('input', () => { this.terms = parseQuery(search.value); this.render(); });
    search.addEventListener('keydown', (event) => this.onSearchKey(event));
    nav.addEventListener('keydown', (event) => this.onKey(event));
    nav.addEventListener('focusin', (event) => { if (event.target.dataset.nav) this.current = event.target.dataset.key; });
    setInterval(() => this.tick(), 1000);
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  tick() {
    const now = Date.now() / 1000;
    for (const node of this.nav.querySelectorAll('.since')) refresh(node, now);
  }

  render() {
    const focused = this.nav.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    let shown = 0;
    let total = 0;
    const groups = [];
    for (const host of this.store.hosts()) {
      const containers = this.store.containersOf(host.host);
      const visible = containers.filter((c) => matches(this.terms, c, host.name));
      total += containers.length;
      shown += visible.length;
      if (!this.terms.length || visible.length) groups.push(this.renderHost(host, visible));
    }
    if (!groups.length) groups.push(el('p', { className: 'hint', textContent: this.terms.length ? 'No container matches.' : 'No hosts yet.' }));
    this.nav.replaceChildren(...groups);
    this.summary.textContent = this.terms.length ? `${shown} of ${total} containers match` : '';
    this.tick();
    this.rove(focused);
  }

  renderHost(host, containers) {
    const up = host.state === 'up';
    const open = this.terms.length > 0 || !this.collapsed.has(host.name);
    const toggle = el('button', { type: 'button', className: 'host-toggle', aria: { expanded: String(open) }, dataset: { nav: 'host', key: `host:${host.name}`, name: host.name } },
      el('span', { className: 'chevron', aria: { hidden: 'true' } }), el('span', { className: 'host-name', textContent: host.name }),
      el('span', { className: `badge ${host.state}`, title: `${host.state} since ${new Date(host.since).toLocaleString()}` },
        since(`${host.state} `, Date.parse(host.since) / 1000)));
    toggle.addEventListener('click', () => this.fold(host.name, !this.collapsed.has(host.name)));
    const facts = el('p', { className: 'facts', textContent: up ? `Docker ${host.docker_version} · ${host.running}/${host.containers} running` : 'Unreachable: its containers are not listed' });
    const list = el('ul', { hidden: !open }, ...containers.map((c) => this.renderContainer(host.name, c)));
    if (up && !containers.length) list.append(el('li', { className: 'hint', textContent: 'No containers.' }));
    return el('section', { className: `host-group ${host.state}` }, el('h2', { dataset: { host: host.name } }, toggle), facts, list);
  }

  renderContainer(host, c) {
    const running = c.state === 'running';
    const labels = Object.entries(c.labels ?? {}).map(([k, v]) => `${k}=${v}`).join('\n');
    const open = el('button', {
      type: 'button', className: 'open', disabled: !running,
      title: `${running ? 'Open a shell' : 'Not running'}${labels ? `\nlabels:\n${labels}` : ''}`,
      dataset: { nav: 'container', key: `${host}/${c.id}`, container: c.name, host, state: c.state },
    },
    el('span', { className: 'name-line' }, el('span', { className: 'name', textContent: c.name }), el('span', { className: `badge ${c.state}`, textContent: c.state })),
    el('span', { className: 'meta' }, status(c), ' · ', el('span', { className: 'image', textContent: c.image })));
    open.addEventListener('click', () => this.onOpen(host, c.name));
    const more = el('button', { type: 'button', className: 'more', textContent: '⋯', tabIndex: -1, disabled: !running,
      title: 'Open with a command, user or directory (Shift+Enter)', aria: { label: `Open ${c.name} with options` }, dataset: { options: c.name } });
    more.addEventListener('click', () => this.onOpenWith(host, c.name));
    return el('li', { className: 'container-row' }, open, more);
  }

  fold(host, collapse) {
    if (this.terms.length) return; // while searching every match stays in view
    if (collapse) this.collapsed.add(host); else this.collapsed.delete(host);
    try { localStorage.setItem(COLLAPSED, JSON.stringify([...this.collapsed])); } catch { /* this page only */ }
    this.render();
  }

  items() {
    return [...this.nav.querySelectorAll('[data-nav]:not(:disabled)')].filter((node) => node.offsetParent !== null);
  }

  // Keeps exactly one item reachable with Tab, and focus where it was across renders.
  rove(focused) {
    const items = this.items();
    const current = items.find((node) => node.dataset.key === (focused ?? this.current)) ?? items[0];
    for (const node of items) node.tabIndex = node === current ? 0 : -1;
    if (focused && current) current.focus();
  }

  move(item) {
    if (!item) return;
    this.current = item.dataset.key;
    this.rove(item.dataset.key);
  }

  onKey(event) {
    const items = this.items();
    const index = items.indexOf(event.target);
    if (index < 0) return;
    const item = items[index];
    const host = item.dataset.nav === 'host' ? item : item.closest('.host-group').querySelector('.host-toggle');
    const keys = {
      ArrowDown: () => this.move(items[index + 1]),
      ArrowUp: () => (index === 0 ? this.search.focus() : this.move(items[index - 1])),
      Home: () => this.move(items[0]),
      End: () => this.move(items[items.length - 1]),
      ArrowLeft: () => (item === host ? this.fold(host.dataset.name, true) : this.move(host)),
      ArrowRight: () => item === host && this.fold(host.dataset.name, false),
      Enter: () => (event.shiftKey && item !== host ? this.onOpenWith(item.dataset.host, item.dataset.container) : item.click()),
    };
    if (!Object.hasOwn(keys, event.key)) return;
    event.preventDefault();
    keys[event.key]();
  }

  onSearchKey(event) {
    if (event.key === 'ArrowDown') { event.preventDefault(); this.move(this.items()[0]); }
    if (event.key === 'Enter') { event.preventDefault(); this.nav.querySelector('button.open:not(:disabled)')?.click(); }
    if (event.key === 'Escape' && this.search.value) {
      event.preventDefault();
      this.search.value = '';
      this.terms = [];
      this.render();
    }
  }

  focusSearch() {
    this.search.focus();
    this.search.select();
  }
}
