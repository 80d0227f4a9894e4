// The browser protocol's control messages (docs/protocol.md, v1). Their names are
// declared once, in shared/browser_types.py; this mirror is checked against it by a test.

/** Text frames the page sends. */
export const Client = Object.freeze({
  OPEN: 'open',
  ATTACH: 'attach',
  RESIZE: 'resize',
  ACK: 'ack',
  EOF: 'eof',
  CLOSE: 'close',
});

/** Text frames the front end sends. */
export const Server = Object.freeze({
  OPENED: 'opened',
  SKIPPED: 'skipped',
  SIZE: 'size',
  WATCHERS: 'watchers',
  INPUT_ACK: 'input-ack',
  IDLE_WARNING: 'idle-warning',
  DETACHED: 'detached',
  EXIT: 'exit',
  ERROR: 'error',
  RECONNECT: 'reconnect',
});

/** @typedef {'rw' | 'ro'} Mode */

/**
 * @typedef {object} OpenedMessage
 * @property {'opened'} type
 * @property {string} session
 * @property {string} host
 * @property {string} container
 * @property {Mode} mode
 * @property {number} offset
 * @property {number} skipped
 * @property {number} window
 * @property {number} cols
 * @property {number} rows
 * @property {string} [watch] the watch token, for the owner
 * @property {import('./services.js').ServiceOf} [service] the service it was opened by, for the owner
 */
/** @typedef {{type: 'exit', code: number | null, reason: string, message?: string}} ExitMessage */
/** @typedef {{user: string, since: number}} Watcher */
/**
 * @typedef {OpenedMessage | ExitMessage
 *   | {type: 'skipped', bytes: number} | {type: 'size', cols: number, rows: number}
 *   | {type: 'watchers', watchers: Watcher[]} | {type: 'idle-warning', seconds: number}
 *   | {type: 'input-ack', offset: number}
 *   | {type: 'detached', message: string} | {type: 'error', code: string, message: string}
 *   | {type: 'reconnect', message: string}} ServerMessage
 */

/**
 * Where to open: a container, or a service (with its project or stack) for the front
 * end to pick a running replica of.
 * @typedef {{host: string | null, container?: string, service?: string, project?: string, stack?: string}} Where
 */

/**
 * @param {Where} where
 * @param {{cmd: string[] | null, user: string | null, workdir: string | null}} options
 * @param {number} cols
 * @param {number} rows
 */
export const open = (where, options, cols, rows) => ({ type: Client.OPEN, ...where, ...options, cols, rows });

/**
 * @param {string} session
 * @param {number} offset
 * @param {Mode} mode
 * @param {string} token
 */
export const attach = (session, offset, mode, token) => ({ type: Client.ATTACH, session, offset, mode, token });

/** @param {number} cols @param {number} rows */
export const resize = (cols, rows) => ({ type: Client.RESIZE, cols, rows });

/** @param {number} offset */
export const ack = (offset) => ({ type: Client.ACK, offset });

export const close = () => ({ type: Client.CLOSE });
