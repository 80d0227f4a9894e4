// The live hosts and containers, fed by Server-Sent Events (/api/events). The server
// sends a snapshot, then changes; on reconnect EventSource gets a new snapshot, which
// replaces everything, so nothing here ever reconciles.

export class ContainerStore {
  constructor({ onChange, onStatus }) {
    this.onChange = onChange;
    this.onStatus = onStatus;
    this.byId = new Map(); // host id (opaque, from the server) -> host
    this.containers = new Map(); // host name -> Map(id -> container)
  }

  start() {
    const source = new EventSource('/api/events');
    const on = (event, apply) => source.addEventListener(event, (e) => { apply(JSON.parse(e.data)); this.onChange(); });
    on('snapshot', (data) => this.snapshot(data));
    on('host', (host) => this.byId.set(host.id, host));
    on('host-containers', (host) => this.hostContainers(host));
    on('container', (change) => this.container(change));
    on('host-removed', ({ id }) => this.byId.delete(id));
    source.onopen = () => this.onStatus('');
    source.onerror = () => this.onStatus('Live updates interrupted; reconnecting…');
  }

  snapshot({ hosts, containers }) {
    this.byId = new Map(hosts.map((h) => [h.id, h]));
    this.containers = new Map();
    for (const c of containers) this.of(c.host).set(c.id, c);
  }

  hostContainers(host) {
    this.byId.set(host.id, host);
    this.containers.set(host.host, new Map(host.items.map((c) => [c.id, c])));
  }

  container({ host, id, container }) {
    if (container) this.of(host).set(id, container);
    else this.of(host).delete(id);
  }

  of(host) {
    if (!this.containers.has(host)) this.containers.set(host, new Map());
    return this.containers.get(host);
  }

  // Hosts by name; one not yet named (never reached) goes by its id.
  hosts() {
    const name = (h) => h.host || `worker ${h.id.slice(0, 6)} (not reached yet)`;
    return [...this.byId.values()].map((h) => ({ ...h, name: name(h) })).sort((a, b) => a.name.localeCompare(b.name));
  }

  containersOf(host) {
    return [...(this.containers.get(host)?.values() ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  }
}
