// The recordings API (docs/protocol.md, "Recordings"): the list, the sessions in it,
// and the URLs of the files. Each file is one part of a session's recording; a
// session that outgrew the worker's size limit has several, played as one.
// Knows nothing about the page.

/**
 * One recording file as GET /api/recordings lists it (frontend_server/recordings.py).
 * @typedef {object} Recording
 * @property {string} host
 * @property {string} name the file's
 * @property {number} size bytes
 * @property {number} started Unix seconds
 * @property {string} person
 * @property {string} container
 * @property {string} session
 * @property {number} part 1 for the first file of a session
 * @property {number | null} duration seconds, null while not known
 */

/** @typedef {{host: string, code?: string, message: string}} HostError */

/**
 * A recorded session: its parts in order, and what they say together.
 * @typedef {object} RecordedSession
 * @property {string} host
 * @property {string} session
 * @property {string} container
 * @property {string} person
 * @property {number} started
 * @property {number | null} duration
 * @property {number} size
 * @property {Recording[]} parts
 */

// The person's roles grant no recordings (`recordings = "none"`); the message says so
// to that person.
export class RecordingsForbidden extends Error {
  constructor() {
    super('You may not see recordings. An administrator can let your role see your own '
      + 'or everyone\'s (the role setting recordings = "own" or "all").');
  }
}

/**
 * {recordings, errors} as the server lists them. query: host, since and until (Unix
 * seconds); an empty or zero value is no filter.
 * @param {{host?: string, since?: number, until?: number}} [query]
 * @returns {Promise<{recordings: Recording[], errors: HostError[]}>}
 */
export async function listRecordings(query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) params.set(key, String(value));
  const response = await fetch(`/api/recordings?${params}`);
  const body = await response.json().catch(() => ({}));
  if (response.status === 403) throw new RecordingsForbidden();
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
  return body;
}

/**
 * @param {string} host
 * @param {string} name
 * @param {{download?: boolean}} [options] download: served as an attachment
 */
export function fileUrl(host, name, { download = false } = {}) {
  const path = `/api/recordings/${encodeURIComponent(host)}/${encodeURIComponent(name)}`;
  return download ? `${path}?download=1` : path;
}

/**
 * One session from its listed parts: where, whose, when, how long (null when a part's
 * length is unknown) and how big, with the parts in order.
 * @param {Recording[]} parts at least one
 * @returns {RecordedSession}
 */
function sessionOfParts(parts) {
  parts.sort((a, b) => a.part - b.part);
  const first = parts[0];
  const last = parts[parts.length - 1];
  return {
    host: first.host, session: first.session, container: first.container, person: first.person,
    started: first.started,
    duration: last.duration === null ? null : last.started - first.started + last.duration,
    size: parts.reduce((sum, part) => sum + part.size, 0),
    parts,
  };
}

/**
 * The listed recordings as sessions, newest first.
 * @param {Recording[]} recordings
 */
export function groupSessions(recordings) {
  /** @type {Map<string, Recording[]>} */
  const parts = new Map();
  for (const recording of recordings) {
    const key = `${recording.host}\n${recording.session}`;
    const found = parts.get(key);
    if (found) found.push(recording);
    else parts.set(key, [recording]);
  }
  return [...parts.values()].map(sessionOfParts).sort((a, b) => b.started - a.started);
}

/**
 * The whole session that the file `name` on `host` is a part of.
 * @param {string} host
 * @param {string} name
 */
export async function findSession(host, name) {
  const { recordings, errors } = await listRecordings({ host });
  const session = groupSessions(recordings).find((s) => s.parts.some((part) => part.name === name));
  if (session) return session;
  const unreachable = errors.find((error) => error.host === host);
  throw new Error(unreachable ? `${host} did not answer: ${unreachable.message}` : `${host} has no recording ${name}`);
}
