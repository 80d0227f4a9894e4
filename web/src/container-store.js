// The live hosts and containers, fed by Server-Sent Events (/api/events). The server
// sends a snapshot, then changes; on reconnect EventSource gets a new snapshot, which
// replaces everything, so nothing here ever reconciles.

/**
 * A host as /api/events tells of it (frontend_server/api.py host_json).
 * @typedef {object} Host
 * @property {string} id opaque, stable while its worker's address is
 * @property {string | null} host its name, null until its worker was reached
 * @property {'up' | 'down'} state
 * @property {string | null} reason why it is down
 * @property {string} since ISO 8601
 * @property {string | null} engine "Docker" or "Podman"
 * @property {string | null} docker_version
 * @property {number | null} containers
 * @property {number | null} running
 */

/** @typedef {Host & {name: string}} NamedHost */

/**
 * A container as /api/events tells of it (container_json); times in Unix seconds.
 * @typedef {object} Container
 * @property {string} host
 * @property {string} id
 * @property {string} name
 * @property {string} image
 * @property {string} state
 * @property {number} started_at
 * @property {number} finished_at
 * @property {number} exit_code
 * @property {Record<string, string>} [labels]
 * @property {import('./services.js').ServiceOf | null} [service] its Compose or Swarm service
 * @property {'none' | 'download' | 'upload'} files what the person may do with files there
 * @property {'none' | 'stats' | 'logs'} [observe] what the person may see of it from outside: logs (and stats), stats only, or neither
 */

export class ContainerStore {
  /**
   * @param {object} hooks
   * @param {() => void} hooks.onChange
   * @param {(text: string) => void} hooks.onStatus
   */
  constructor({ onChange, onStatus }) {
    this.onChange = onChange;
    this.onStatus = onStatus;
    /** @type {Map<string, Host>} host id (opaque, from the server) -> host */
    this.byId = new Map();
    /** @type {Map<string | null, Map<string, Container>>} host name -> Map(id -> container) */
    this.containers = new Map();
  }

  start() {
    const source = new EventSource('/api/events');
    /** @type {(event: string, apply: (data: any) => void) => void} */
    const on = (event, apply) => source.addEventListener(event, (e) => { apply(JSON.parse(e.data)); this.onChange(); });
    on('snapshot', (data) => this.snapshot(data));
    on('host', (/** @type {Host} */ host) => this.byId.set(host.id, host));
    on('host-containers', (host) => this.hostContainers(host));
    on('container', (change) => this.container(change));
    on('host-removed', (/** @type {{id: string}} */ { id }) => this.byId.delete(id));
    source.onopen = () => this.onStatus('');
    source.onerror = () => this.onStatus('Live updates interrupted; reconnecting…');
  }

  /** @param {{hosts: Host[], containers: Container[]}} snapshot */
  snapshot({ hosts, containers }) {
    this.byId = new Map(hosts.map((h) => [h.id, h]));
    this.containers = new Map();
    for (const c of containers) this.of(c.host).set(c.id, c);
  }

  /** @param {Host & {items: Container[]}} host */
  hostContainers(host) {
    this.byId.set(host.id, host);
    this.containers.set(host.host, new Map(host.items.map((c) => [c.id, c])));
  }

  /** @param {{host: string, id: string, container: Container | null}} change */
  container({ host, id, container }) {
    if (container) this.of(host).set(id, container);
    else this.of(host).delete(id);
  }

  /** @param {string | null} host */
  of(host) {
    let containers = this.containers.get(host);
    if (!containers) this.containers.set(host, containers = new Map());
    return containers;
  }

  // Hosts by name; one not yet named (never reached) goes by its id.
  /** @returns {NamedHost[]} */
  hosts() {
    const name = (/** @type {Host} */ h) => h.host || `worker ${h.id.slice(0, 6)} (not reached yet)`;
    return [...this.byId.values()].map((h) => ({ ...h, name: name(h) })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** @param {string | null} host */
  containersOf(host) {
    return [...(this.containers.get(host)?.values() ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  }
}
