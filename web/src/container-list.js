// The live list of hosts and their containers, fed by Server-Sent Events (/api/events).
// The server sends a snapshot, then changes; on reconnect EventSource gets a new snapshot.

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

export function ago(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

function describe(c, now) {
  if (c.state === 'running') return `Up ${ago(now - c.started_at)}`;
  if (c.state === 'exited' && c.finished_at) return `Exited (${c.exit_code}) ${ago(now - c.finished_at)} ago`;
  return c.state;
}

export class ContainerList {
  constructor(nav, { onOpen, onStatus }) {
    this.nav = nav;
    this.onOpen = onOpen;
    this.onStatus = onStatus;
    this.hosts = new Map(); // endpoint -> host
    this.containers = new Map(); // host -> Map(id -> container)
    this.pending = false;
    setInterval(() => this.render(), 30_000); // uptimes move on
  }

  async start() {
    const source = new EventSource('/api/events');
    source.addEventListener('snapshot', (e) => this.snapshot(JSON.parse(e.data)));
    source.addEventListener('host', (e) => this.host(JSON.parse(e.data)));
    source.addEventListener('host-containers', (e) => this.hostContainers(JSON.parse(e.data)));
    source.addEventListener('container', (e) => this.container(JSON.parse(e.data)));
    source.addEventListener('host-removed', (e) => this.hostRemoved(JSON.parse(e.data)));
    source.onopen = () => this.onStatus('');
    source.onerror = () => this.onStatus('live updates interrupted; reconnecting…');
  }

  snapshot({ hosts, containers }) {
    this.hosts = new Map(hosts.map((h) => [h.endpoint, h]));
    this.containers = new Map();
    for (const c of containers) this.byHost(c.host).set(c.id, c);
    this.schedule();
  }

  host(h) {
    this.hosts.set(h.endpoint, h);
    this.schedule();
  }

  hostContainers(h) {
    this.hosts.set(h.endpoint, h);
    this.containers.set(h.host, new Map(h.items.map((c) => [c.id, c])));
    this.schedule();
  }

  container({ host, id, container }) {
    if (container) this.byHost(host).set(id, container);
    else this.byHost(host).delete(id);
    this.schedule();
  }

  hostRemoved({ endpoint }) {
    this.hosts.delete(endpoint);
    this.schedule();
  }

  byHost(host) {
    if (!this.containers.has(host)) this.containers.set(host, new Map());
    return this.containers.get(host);
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  render() {
    const now = Date.now() / 1000;
    const sections = [];
    const hosts = [...this.hosts.values()].sort((a, b) => (a.host || a.endpoint).localeCompare(b.host || b.endpoint));
    for (const h of hosts) sections.push(this.renderHost(h, now));
    if (!sections.length) sections.push(el('p', { className: 'hint', textContent: 'No hosts yet.' }));
    this.nav.replaceChildren(...sections);
  }

  renderHost(h, now) {
    const name = h.host || h.endpoint;
    const up = h.state === 'up';
    const facts = up
      ? `Docker ${h.docker_version} · ${h.running}/${h.containers} running`
      : `down since ${new Date(h.since).toLocaleTimeString()}`;
    const header = el('h2', { className: up ? 'host up' : 'host down' },
      el('span', { className: `state ${up ? 'running' : 'exited'}` }), name,
      el('span', { className: 'facts', textContent: facts }));
    header.dataset.host = name;
    const list = el('ul');
    const containers = [...(this.containers.get(h.host)?.values() ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    for (const c of up ? containers : []) list.append(el('li', {}, this.renderContainer(name, c, now)));
    return el('section', { className: 'host-group' }, header, list);
  }

  renderContainer(host, c, now) {
    const running = c.state === 'running';
    const labels = Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join('\n');
    const button = el('button', { disabled: !running, title: labels ? `labels:\n${labels}` : 'no labels' },
      el('span', { className: `state ${c.state}` }), c.name,
      el('span', { className: 'image', textContent: `${c.image} · ${describe(c, now)}` }));
    button.dataset.container = c.name;
    button.dataset.host = host;
    button.dataset.state = c.state;
    button.addEventListener('click', () => this.onOpen(host, c.name));
    return button;
  }
}
