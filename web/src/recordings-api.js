// The recordings API (docs/protocol.md, "Recordings"): the list, the sessions in it,
// and the URLs of the files. Each file is one part of a session's recording; a
// session that outgrew the worker's size limit has several, played as one.
// Knows nothing about the page.

// The person's roles grant no recordings (`recordings = "none"`); the message says so
// to that person.
export class RecordingsForbidden extends Error {
  constructor() {
    super('You may not see recordings. An administrator can let your role see your own '
      + 'or everyone\'s (the role setting recordings = "own" or "all").');
  }
}

// {recordings, errors} as the server lists them. query: host, since and until (Unix
// seconds); an empty or zero value is no filter.
export async function listRecordings(query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) params.set(key, String(value));
  const response = await fetch(`/api/recordings?${params}`);
  const body = await response.json().catch(() => ({}));
  if (response.status === 403) throw new RecordingsForbidden();
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
  return body;
}

export function fileUrl(host, name, { download = false } = {}) {
  const path = `/api/recordings/${encodeURIComponent(host)}/${encodeURIComponent(name)}`;
  return download ? `${path}?download=1` : path;
}

// One session from its listed parts: where, whose, when, how long (null when a part's
// length is unknown) and how big, with the parts in order.
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

// The listed recordings as sessions, newest first.
export function groupSessions(recordings) {
  const parts = new Map();
  for (const recording of recordings) {
    const key = `${recording.host}\n${recording.session}`;
    if (!parts.has(key)) parts.set(key, []);
    parts.get(key).push(recording);
  }
  return [...parts.values()].map(sessionOfParts).sort((a, b) => b.started - a.started);
}

// The whole session that the file `name` on `host` is a part of.
export async function findSession(host, name) {
  const { recordings, errors } = await listRecordings({ host });
  const session = groupSessions(recordings).find((s) => s.parts.some((part) => part.name === name));
  if (session) return session;
  const unreachable = errors.find((error) => error.host === host);
  throw new Error(unreachable ? `${host} did not answer: ${unreachable.message}` : `${host} has no recording ${name}`);
}
