// The container browser: Compose projects and Swarm stacks first, across hosts, each
// service a row that opens a shell in one of its running replicas, its replicas
// listed under it to pick one; then hosts with the containers of no service. Groups
// fold; containers show state, image and a live uptime, filtered by the search box
// as you type. Keyboard: arrows
// move (one item in the tab order, the WAI-ARIA roving pattern), Left and Right fold a
// host, Enter opens, Shift+Enter asks how to open. Stopped containers are listed but
// cannot be opened.

import { el } from './dom.js';
import { ago } from './format.js';
import { matches, parseQuery } from './container-filter.js';
import { groupTitle, serviceName } from './services.js';

/** @typedef {import('./container-store.js').Container} Container */
/** @typedef {import('./container-store.js').NamedHost} NamedHost */

const COLLAPSED = 'dterm.collapsed-hosts';

/** @returns {Set<string>} */
function loadCollapsed() {
  try { return new Set(JSON.parse(localStorage.getItem(COLLAPSED) || '[]')); } catch { return new Set(); }
}

// Text with a time in it, refreshed every second by tick(): "Up 5 min", "Exited (1) 2 h ago".
/**
 * @param {string} prefix
 * @param {number} seconds Unix time
 */
function since(prefix, seconds, suffix = '') {
  return el('span', { className: 'since', dataset: { prefix, since: seconds, suffix } });
}

/**
 * @param {HTMLElement} node
 * @param {number} now Unix time
 */
function refresh(node, now) {
  const { prefix, since: at, suffix } = node.dataset;
  node.textContent = `${prefix}${ago(now - Number(at))}${suffix}`;
}

/** @param {Container} c */
function status(c) {
  if (c.state === 'running') return since('Up ', c.started_at);
  if (c.state === 'exited' && c.finished_at) return since(`Exited (${c.exit_code}) `, c.finished_at, ' ago');
  return el('span', { textContent: c.state });
}

/** @typedef {(host: string, container: string) => void} OpenHandler */
/** @typedef {{host: string, c: Container}} Replica */
/** @typedef {{of: import('./services.js').ServiceOf, replicas: Replica[]}} Service */
/** @typedef {{title: string, services: Map<string, Service>}} ServiceGroup */

/**
 * The services among the containers, by group title, then by service name.
 * @param {Replica[]} replicas
 * @returns {ServiceGroup[]}
 */
function groupServices(replicas) {
  /** @type {Map<string, ServiceGroup>} */
  const groups = new Map();
  for (const r of replicas) {
    const of = /** @type {import('./services.js').ServiceOf} */ (r.c.service);
    const title = groupTitle(of);
    let group = groups.get(title);
    if (!group) groups.set(title, group = { title, services: new Map() });
    let service = group.services.get(of.service);
    if (!service) group.services.set(of.service, service = { of, replicas: [] });
    service.replicas.push(r);
  }
  const byReplica = (/** @type {Replica} */ a, /** @type {Replica} */ b) => ((a.c.service?.replica ?? 0) - (b.c.service?.replica ?? 0)) || a.c.name.localeCompare(b.c.name);
  for (const group of groups.values()) for (const service of group.services.values()) service.replicas.sort(byReplica);
  return [...groups.values()].sort((a, b) => a.title.localeCompare(b.title));
}

export class ContainerList {
  /**
   * onOpen(host, container) opens a shell there; onOpenWith(host, container) asks how.
   * @param {object} parts
   * @param {HTMLElement} parts.nav
   * @param {HTMLInputElement} parts.search
   * @param {HTMLElement} parts.summary
   * @param {import('./container-store.js').ContainerStore} parts.store
   * @param {OpenHandler} parts.onOpen
   * @param {OpenHandler} parts.onOpenWith
   * @param {(name: import('./services.js').ServiceName) => void} parts.onOpenService
   */
  constructor({ nav, search, summary, store, onOpen, onOpenWith, onOpenService }) {
    this.nav = nav;
    this.search = search;
    this.summary = summary;
    this.store = store;
    this.onOpen = onOpen;
    this.onOpenWith = onOpenWith;
    this.onOpenService = onOpenService;
    this.collapsed = loadCollapsed();
    /** @type {import('./container-filter.js').Term[]} */
    this.terms = [];
    /** @type {string | undefined} data-key of the item in the tab order */
    this.current = undefined;
    this.pending = false;
    search.addEventListener('input', () => { this.terms = parseQuery(search.value); this.render(); });
    search.addEventListener('keydown', (event) => this.onSearchKey(event));
    nav.addEventListener('keydown', (event) => this.onKey(event));
    nav.addEventListener('focusin', (event) => {
      if (event.target instanceof HTMLElement && event.target.dataset.nav) this.current = event.target.dataset.key;
    });
    setInterval(() => this.tick(), 1000);
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  tick() {
    const now = Date.now() / 1000;
    for (const node of /** @type {NodeListOf<HTMLElement>} */ (this.nav.querySelectorAll('.since'))) refresh(node, now);
  }

  render() {
    const active = document.activeElement;
    const focused = active instanceof HTMLElement && this.nav.contains(active) ? active.dataset.key : undefined;
    let shown = 0;
    let total = 0;
    const hostGroups = [];
    /** @type {Replica[]} */
    const inServices = [];
    for (const host of this.store.hosts()) {
      const containers = this.store.containersOf(host.host);
      const visible = containers.filter((c) => matches(this.terms, c, host.name));
      total += containers.length;
      shown += visible.length;
      inServices.push(...visible.filter((c) => c.service).map((c) => ({ host: host.name, c })));
      const loose = visible.filter((c) => !c.service);
      if (!this.terms.length || loose.length) hostGroups.push(this.renderHost(host, loose, containers.length > 0));
    }
    const groups = [...groupServices(inServices).map((g) => this.renderGroup(g)), ...hostGroups];
    if (!groups.length) groups.push(el('p', { className: 'hint', textContent: this.terms.length ? 'No container matches.' : 'No hosts yet.' }));
    this.nav.replaceChildren(...groups);
    this.summary.textContent = this.terms.length ? `${shown} of ${total} containers match` : '';
    this.tick();
    this.rove(focused);
  }

  /**
   * A project or stack: its services, each with its replicas on every host.
   * @param {ServiceGroup} group
   */
  renderGroup(group) {
    const open = this.terms.length > 0 || !this.collapsed.has(group.title);
    const toggle = el('button', { type: 'button', className: 'host-toggle', aria: { expanded: String(open) }, dataset: { nav: 'host', key: `group:${group.title}`, name: group.title } },
      el('span', { className: 'chevron', aria: { hidden: 'true' } }), el('span', { className: 'host-name', textContent: group.title }));
    toggle.addEventListener('click', () => this.fold(group.title, !this.collapsed.has(group.title)));
    const rows = [...group.services.values()].sort((a, b) => a.of.service.localeCompare(b.of.service)).map((s) => this.renderService(s));
    return el('section', { className: 'host-group service-group', dataset: { group: group.title } }, el('h2', {}, toggle), el('ul', { hidden: !open }, ...rows));
  }

  /**
   * A service: its row opens a shell in a running replica (the server picks one);
   * each replica under it opens that very one.
   * @param {Service} service
   */
  renderService({ of, replicas }) {
    const running = replicas.filter((r) => r.c.state === 'running').length;
    const hosts = [...new Set(replicas.map((r) => r.host))].join(', ');
    const name = serviceName(of);
    const open = el('button', {
      type: 'button', className: 'open', disabled: running === 0,
      title: running ? 'Open a shell in a running replica' : 'No replica runs',
      dataset: { nav: 'service', key: `service:${groupTitle(of)}/${of.service}`, service: of.service, group: groupTitle(of) },
    },
    el('span', { className: 'name-line' }, el('span', { className: 'name', textContent: of.service }), el('span', { className: `badge ${running ? 'running' : 'exited'}`, textContent: `${running}/${replicas.length} running` })),
    el('span', { className: 'meta', textContent: `${of.kind} service · ${hosts}` }));
    open.addEventListener('click', () => this.onOpenService(name));
    const list = el('ul', { className: 'replicas' }, ...replicas.map((r) => this.renderContainer(r.host, r.c, true)));
    return el('li', { className: 'service-row' }, el('div', { className: 'container-row' }, open), list);
  }

  /**
   * @param {NamedHost} host
   * @param {Container[]} containers those of no service
   * @param {boolean} any whether the host has containers at all
   */
  renderHost(host, containers, any) {
    const up = host.state === 'up';
    const open = this.terms.length > 0 || !this.collapsed.has(host.name);
    const toggle = el('button', { type: 'button', className: 'host-toggle', aria: { expanded: String(open) }, dataset: { nav: 'host', key: `host:${host.name}`, name: host.name } },
      el('span', { className: 'chevron', aria: { hidden: 'true' } }), el('span', { className: 'host-name', textContent: host.name }),
      el('span', { className: `badge ${host.state}`, title: `${host.state} since ${new Date(host.since).toLocaleString()}` },
        since(`${host.state} `, Date.parse(host.since) / 1000)));
    toggle.addEventListener('click', () => this.fold(host.name, !this.collapsed.has(host.name)));
    const facts = el('p', { className: 'facts', textContent: up ? `Docker ${host.docker_version} · ${host.running}/${host.containers} running` : 'Unreachable: its containers are not listed' });
    const list = el('ul', { hidden: !open }, ...containers.map((c) => this.renderContainer(host.name, c)));
    if (up && !containers.length) list.append(el('li', { className: 'hint', textContent: any ? 'No containers outside services.' : 'No containers.' }));
    return el('section', { className: `host-group ${host.state}` }, el('h2', { dataset: { host: host.name } }, toggle), facts, list);
  }

  /**
   * @param {string} host
   * @param {Container} c
   * @param {boolean} [replica] listed under its service: say its host and number
   */
  renderContainer(host, c, replica = false) {
    const running = c.state === 'running';
    const labels = Object.entries(c.labels ?? {}).map(([k, v]) => `${k}=${v}`).join('\n');
    const open = el('button', {
      type: 'button', className: 'open', disabled: !running,
      title: `${running ? 'Open a shell' : 'Not running'}${labels ? `\nlabels:\n${labels}` : ''}`,
      dataset: { nav: 'container', key: `${host}/${c.id}`, container: c.name, host, state: c.state },
    },
    el('span', { className: 'name-line' }, el('span', { className: 'name', textContent: c.name }), el('span', { className: `badge ${c.state}`, textContent: c.state })),
    el('span', { className: 'meta' }, replica && c.service?.replica ? `#${c.service.replica} · ` : '', status(c), ' · ', el('span', { className: 'image', textContent: replica ? `on ${host}` : c.image })));
    open.addEventListener('click', () => this.onOpen(host, c.name));
    const more = el('button', { type: 'button', className: 'more', textContent: '⋯', tabIndex: -1, disabled: !running,
      title: 'Open with a command, user or directory (Shift+Enter)', aria: { label: `Open ${c.name} with options` }, dataset: { options: c.name } });
    more.addEventListener('click', () => this.onOpenWith(host, c.name));
    return el('li', { className: `container-row${replica ? ' replica' : ''}` }, open, more);
  }

  /**
   * @param {string} host
   * @param {boolean} collapse
   */
  fold(host, collapse) {
    if (this.terms.length) return; // while searching every match stays in view
    if (collapse) this.collapsed.add(host); else this.collapsed.delete(host);
    try { localStorage.setItem(COLLAPSED, JSON.stringify([...this.collapsed])); } catch { /* this page only */ }
    this.render();
  }

  // The host toggles and the open buttons that can be reached now.
  items() {
    /** @type {NodeListOf<HTMLButtonElement>} */
    const buttons = this.nav.querySelectorAll('[data-nav]:not(:disabled)');
    return [...buttons].filter((node) => node.offsetParent !== null);
  }

  // Keeps exactly one item reachable with Tab, and focus where it was across renders.
  /** @param {string | undefined} focused the data-key of the item that has focus */
  rove(focused) {
    const items = this.items();
    const current = items.find((node) => node.dataset.key === (focused ?? this.current)) ?? items[0];
    for (const node of items) node.tabIndex = node === current ? 0 : -1;
    if (focused && current) current.focus();
  }

  /** @param {HTMLButtonElement | undefined} item */
  move(item) {
    if (!item) return;
    this.current = item.dataset.key;
    this.rove(item.dataset.key);
  }

  /** @param {KeyboardEvent} event */
  onKey(event) {
    const items = this.items();
    const index = items.findIndex((node) => node === event.target);
    if (index < 0) return;
    const item = items[index];
    // A container's button is always in its host's group, under the host's toggle.
    const host = item.dataset.nav === 'host' ? item : /** @type {HTMLButtonElement} */ (item.closest('.host-group')?.querySelector('.host-toggle'));
    const hostName = host.dataset.name ?? '';
    /** @type {Record<string, () => void>} */
    const keys = {
      ArrowDown: () => this.move(items[index + 1]),
      ArrowUp: () => (index === 0 ? this.search.focus() : this.move(items[index - 1])),
      Home: () => this.move(items[0]),
      End: () => this.move(items[items.length - 1]),
      ArrowLeft: () => (item === host ? this.fold(hostName, true) : this.move(host)),
      ArrowRight: () => { if (item === host) this.fold(hostName, false); },
      Enter: () => (event.shiftKey && item.dataset.nav === 'container' ? this.onOpenWith(item.dataset.host ?? '', item.dataset.container ?? '') : item.click()),
    };
    if (!Object.hasOwn(keys, event.key)) return;
    event.preventDefault();
    keys[event.key]();
  }

  /** @param {KeyboardEvent} event */
  onSearchKey(event) {
    if (event.key === 'ArrowDown') { event.preventDefault(); this.move(this.items()[0]); }
    if (event.key === 'Enter') {
      event.preventDefault();
      /** @type {HTMLButtonElement | null} */
      const first = this.nav.querySelector('button.open:not(:disabled)');
      first?.click();
    }
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
