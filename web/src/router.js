// Hash routes, so that links open terminals and Back and Forward move between tabs:
//
//   #/                          home: the container list, no tab shown
//   #/h/<host>/c/<container>    a terminal in that container (a deep link)
//   #/p/<project>/s/<service>   a terminal in a running replica of a Compose service
//   #/stack/<stack>/s/<service> the same for a service of a Swarm stack
//   #/swarm/s/<service>         the same for a Swarm service by its full name
//   #/watch/<session>/<token>   someone's session, read-only
//   #/recordings                the recordings list
//   #/recordings/<host>/<name>  one recording playing (its session's parts, in order)
//
// History entries this page load makes carry {page, tab} in history.state, so going
// back to one shows that very tab rather than opening another. An entry from an
// earlier load of the page (kept by the browser over a reload) is `stale`: its tab is
// gone, and its session, if still running, is in the reattach offer.

/**
 * @typedef {{name: 'home'} | {name: 'recordings'}
 *   | {name: 'container', host: string, container: string}
 *   | {name: 'service', service: import('./services.js').ServiceName}
 *   | {name: 'watch', session: string, token: string}
 *   | {name: 'recording', host: string, file: string}} Route
 */

/**
 * What a history entry says: the tab it was made for (undefined: not by this page
 * load) and whether an earlier load made it.
 * @typedef {{tab: number | undefined, stale: boolean}} Entry
 */

const PAGE = Math.random().toString(36).slice(2);

/**
 * @param {string} host
 * @param {string} container
 */
export function containerRoute(host, container) {
  return `#/h/${encodeURIComponent(host)}/c/${encodeURIComponent(container)}`;
}

/**
 * A link to a service: it opens whichever replica runs when it is followed.
 * @param {import('./services.js').ServiceName} n
 */
export function serviceRoute(n) {
  const s = `s/${encodeURIComponent(n.service)}`;
  if (n.project !== undefined) return `#/p/${encodeURIComponent(n.project)}/${s}`;
  if (n.stack !== undefined) return `#/stack/${encodeURIComponent(n.stack)}/${s}`;
  return `#/swarm/${s}`;
}

/**
 * @param {string[]} parts
 * @returns {import('./services.js').ServiceName | null}
 */
function serviceOf(parts) {
  if (parts.length === 3 && parts[0] === 'swarm' && parts[1] === 's' && parts[2]) return { service: parts[2] };
  if (parts.length !== 4 || parts[2] !== 's' || !parts[1] || !parts[3]) return null;
  if (parts[0] === 'p') return { service: parts[3], project: parts[1] };
  if (parts[0] === 'stack') return { service: parts[3], stack: parts[1] };
  return null;
}

/**
 * @param {string} session
 * @param {string} token
 */
export function watchRoute(session, token) {
  return `#/watch/${encodeURIComponent(session)}/${encodeURIComponent(token)}`;
}

export const RECORDINGS_ROUTE = '#/recordings';

/**
 * @param {string} host
 * @param {string} file
 */
export function recordingRoute(host, file) {
  return `${RECORDINGS_ROUTE}/${encodeURIComponent(host)}/${encodeURIComponent(file)}`;
}

/** @param {string} part */
function decode(part) {
  try { return decodeURIComponent(part); } catch { return ''; } // a mangled link is no route
}

/**
 * @param {string} hash
 * @returns {Route}
 */
export function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decode);
  if (parts.length === 4 && parts[0] === 'h' && parts[2] === 'c' && parts[1] && parts[3]) {
    return { name: 'container', host: parts[1], container: parts[3] };
  }
  const service = serviceOf(parts);
  if (service) return { name: 'service', service };
  if (parts.length === 3 && parts[0] === 'watch' && parts[1] && parts[2]) {
    return { name: 'watch', session: parts[1], token: parts[2] };
  }
  if (parts[0] === 'recordings') {
    if (parts.length === 1) return { name: 'recordings' };
    if (parts.length === 3 && parts[1] && parts[2]) return { name: 'recording', host: parts[1], file: parts[2] };
  }
  return { name: 'home' };
}

export class Router {
  /**
   * onRoute(route, {tab, stale}): tab is the id of the tab this entry was made for.
   * @param {(route: Route, entry: Entry) => void} onRoute
   */
  constructor(onRoute) {
    this.onRoute = onRoute;
    /** @type {string | null} the location and state last dispatched */
    this.seen = null;
  }

  start() {
    // Chromium fires popstate for a new hash and hashchange too; Back between two
    // entries with the same hash fires only popstate. Each change is handled once.
    window.addEventListener('popstate', () => this.dispatch());
    window.addEventListener('hashchange', () => this.dispatch());
    this.dispatch();
  }

  dispatch() {
    const state = history.state;
    const key = `${location.hash}|${JSON.stringify(state)}`;
    if (key === this.seen) return;
    this.seen = key;
    const mine = state?.page === PAGE;
    this.onRoute(parseRoute(location.hash), { tab: mine ? state.tab : undefined, stale: Boolean(state?.page) && !mine });
  }

  /**
   * @param {string} hash
   * @param {number} [tab]
   */
  push(hash, tab) { this.write('pushState', hash, tab); }

  /**
   * @param {string} hash
   * @param {number} [tab]
   */
  replace(hash, tab) { this.write('replaceState', hash, tab); }

  /**
   * @param {'pushState' | 'replaceState'} method
   * @param {string} hash
   * @param {number} [tab]
   */
  write(method, hash, tab) {
    const state = { page: PAGE, tab: tab ?? null };
    if (history.state?.page === PAGE && history.state.tab === state.tab && location.hash === hash) return;
    history[method](state, '', hash || '#/');
    this.seen = `${location.hash}|${JSON.stringify(state)}`;
  }
}
