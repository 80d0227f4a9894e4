// The container browser: Compose projects and Swarm stacks first, across hosts, each
// service a row that opens a shell in one of its running replicas, its replicas
// listed under it to pick one; then hosts as collapsible groups, each with a count
// of its containers (running of all), and their containers of no service, with
// state, image and a live uptime, filtered by the search box as you type. Keyboard:
// arrows move (one item in the tab order, the WAI-ARIA roving pattern), Left and
// Right fold a group, Enter opens, Shift+Enter asks how to open. Stopped containers
// are listed but cannot be opened.
//
// Built for hundreds of hosts: past MANY_HOSTS the host groups start folded (a
// person's own unfolding and folding is remembered per group), a folded group builds
// no rows, "Expand all" and "Collapse all" act on every host, and the filter matches
// host names too, unfolding every group it keeps.

import { el } from './dom.js';
import { ago } from './format.js';
import { matches, parseQuery } from './container-filter.js';
import { groupTitle, serviceName } from './services.js';

/** @typedef {import('./container-store.js').Container} Container */
/** @typedef {import('./container-store.js').NamedHost} NamedHost */

const FOLDS = 'dterm.host-folds';
const OLD_FOLDS = 'dterm.collapsed-hosts';
export const MANY_HOSTS = 8;
const REMEMBERED = 2000; // hosts whose folding is kept, the latest first

/**
 * Hosts the person unfolded or folded themselves (either overrides the default).
 * @typedef {{open: Set<string>, closed: Set<string>}} Folds
 */

/** @returns {Folds} */
function loadFolds() {
  try {
    const saved = JSON.parse(localStorage.getItem(FOLDS) || 'null');
    if (saved) return { open: new Set(saved.open), closed: new Set(saved.closed) };
    return { open: new Set(), closed: new Set(JSON.parse(localStorage.getItem(OLD_FOLDS) || '[]')) };
  } catch {
    return { open: new Set(), closed: new Set() };
  }
}

/** @param {Folds} folds */
function saveFolds({ open, closed }) {
  const latest = (/** @type {Set<string>} */ set) => [...set].slice(-REMEMBERED);
  try { localStorage.setItem(FOLDS, JSON.stringify({ open: latest(open), closed: latest(closed) })); } catch { /* this page only */ }
}

/** @type {(a: string, b: string) => number} rack-2 before rack-10 */
const byName = new Intl.Collator(undefined, { numeric: true }).compare;

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

/**
 * What a host's list says when it shows no container.
 * @param {Container[]} all the host's containers
 * @param {boolean} searching
 */
function hint(all, searching) {
  if (!all.length) return 'No containers.';
  return searching || !all.some((c) => c.service) ? 'No container matches.' : 'No containers outside services.';
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
    this.folds = loadFolds();
    this.hostCount = 0;
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
    const hosts = this.store.hosts().sort((a, b) => byName(a.name, b.name));
    this.hostCount = hosts.length;
    let shown = 0;
    let total = 0;
    const hostGroups = [];
    /** @type {Replica[]} */
    const inServices = [];
    for (const host of hosts) {
      const containers = this.store.containersOf(host.host);
      const named = this.terms.length > 0 && this.terms.every((t) => t.text !== undefined && host.name.toLowerCase().includes(t.text));
      const visible = named ? containers : containers.filter((c) => matches(this.terms, c, host.name));
      total += containers.length;
      shown += visible.length;
      inServices.push(...visible.filter((c) => c.service).map((c) => ({ host: host.name, c })));
      const loose = visible.filter((c) => !c.service);
      if (!this.terms.length || loose.length || named) hostGroups.push(this.renderHost(host, containers, loose));
    }
    const groups = [...groupServices(inServices).map((g) => this.renderGroup(g)), ...hostGroups];
    if (!groups.length) groups.push(el('p', { className: 'hint', textContent: this.terms.length ? 'No container matches.' : 'No hosts yet.' }));
    this.nav.replaceChildren(this.tools(), ...groups);
    this.summary.textContent = this.terms.length ? `${shown} of ${total} containers match` : '';
    this.tick();
    this.rove(focused);
  }

  // With more than one host: how many, and (unless searching) folding them all at once.
  tools() {
    const box = el('div', { className: 'list-tools', hidden: this.hostCount < 2 },
      el('span', { className: 'count', textContent: `${this.hostCount} hosts` }));
    /** @type {(text: string, open: boolean) => HTMLButtonElement} */
    const all = (text, open) => {
      const button = el('button', { type: 'button', textContent: text, dataset: { fold: open ? 'open' : 'closed' } });
      button.addEventListener('click', () => this.foldAll(open));
      return button;
    };
    if (!this.terms.length) box.append(all('Expand all', true), all('Collapse all', false));
    return box;
  }

  /**
   * @param {string} name a host's, or a service group's key
   * @param {boolean} [byDefault] when the person has not folded it: hosts fold past MANY_HOSTS
   */
  isOpen(name, byDefault = this.hostCount <= MANY_HOSTS) {
    if (this.terms.length) return true; // while searching every match stays in view
    if (this.folds.open.has(name)) return true;
    if (this.folds.closed.has(name)) return false;
    return byDefault;
  }

  /**
   * A project or stack: its services, each with its replicas on every host.
   * @param {ServiceGroup} group
   */
  renderGroup(group) {
    const key = `group:${group.title}`;
    const open = this.isOpen(key, true);
    const toggle = el('button', { type: 'button', className: 'host-toggle', aria: { expanded: String(open) }, dataset: { nav: 'host', key, name: key } },
      el('span', { className: 'chevron', aria: { hidden: 'true' } }), el('span', { className: 'host-name', textContent: group.title }));
    toggle.addEventListener('click', () => this.fold(key, this.isOpen(key, true)));
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
   * A host's group; its rows are built only while it is unfolded.
   * @param {NamedHost} host
   * @param {Container[]} all its containers
   * @param {Container[]} containers those the filter keeps, of no service
   */
  renderHost(host, all, containers) {
    const up = host.state === 'up';
    const open = this.isOpen(host.name);
    const running = all.filter((c) => c.state === 'running').length;
    const counted = up ? `${running} of ${all.length} running` : 'unreachable';
    const toggle = el('button', { type: 'button', className: 'host-toggle', aria: { expanded: String(open) }, dataset: { nav: 'host', key: `host:${host.name}`, name: host.name } },
      el('span', { className: 'chevron', aria: { hidden: 'true' } }), el('span', { className: 'host-name', textContent: host.name }),
      up ? el('span', { className: 'count', title: `${counted} (containers you may see)`, textContent: `${running}/${all.length}` }) : null,
      el('span', { className: `badge ${host.state}`, title: `${host.state} since ${new Date(host.since).toLocaleString()}` },
        since(`${host.state} `, Date.parse(host.since) / 1000)));
    toggle.addEventListener('click', () => this.fold(host.name, this.isOpen(host.name)));
    const group = el('section', { className: `host-group ${host.state}` }, el('h2', { dataset: { host: host.name } }, toggle));
    if (!open) return group;
    const facts = up ? `${host.engine || 'Docker'} ${host.docker_version}` : `Unreachable (${host.reason ?? 'no answer'}): its containers are not listed`;
    group.append(el('p', { className: 'facts', textContent: facts }));
    const list = el('ul', {}, ...containers.map((c) => this.renderContainer(host.name, c)));
    if (up && !containers.length) list.append(el('li', { className: 'hint', textContent: hint(all, this.terms.length > 0) }));
    group.append(list);
    return group;
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
    (collapse ? this.folds.open : this.folds.closed).delete(host);
    (collapse ? this.folds.closed : this.folds.open).add(host);
    saveFolds(this.folds);
    this.render();
  }

  /** @param {boolean} open */
  foldAll(open) {
    const names = this.store.hosts().map((h) => h.name);
    this.folds = open ? { open: new Set(names), closed: new Set() } : { open: new Set(), closed: new Set(names) };
    saveFolds(this.folds);
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
