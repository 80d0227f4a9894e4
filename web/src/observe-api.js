// Container logs and stats (docs/protocol.md, "Logs and stats"): the URLs, one stats
// reading, and a logs stream read as it comes. Knows nothing about the page.

/**
 * One stats reading as GET .../stats answers it.
 * @typedef {object} Stats
 * @property {number | null} cpu_percent of one CPU; null until two readings exist
 * @property {number} online_cpus
 * @property {number} memory bytes in use (without the inactive page cache)
 * @property {number} memory_limit bytes; 0 when none is known
 * @property {number} pids
 * @property {number} net_rx
 * @property {number} net_tx
 * @property {number} read_at Unix milliseconds
 */

/**
 * @param {string} host
 * @param {string} container
 * @param {'logs' | 'stats'} what
 * @param {Record<string, string | number>} [query]
 */
export function observeUrl(host, container, what, query = {}) {
  const params = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
  const path = `/api/containers/${encodeURIComponent(host)}/${encodeURIComponent(container)}/${what}`;
  return params.size ? `${path}?${params}` : path;
}

/**
 * @param {Response} response
 * @returns {Promise<Error>}
 */
async function failure(response) {
  const body = await response.json().catch(() => ({}));
  return new Error(body.message ?? `HTTP ${response.status}`);
}

/**
 * @param {string} host
 * @param {string} container
 * @returns {Promise<Stats>}
 */
export async function readStats(host, container) {
  const response = await fetch(observeUrl(host, container, 'stats'));
  if (!response.ok) throw await failure(response);
  return response.json();
}

/**
 * Reads a logs stream, handing its text on as it comes (bytes decoded for showing
 * only; a character split across chunks is kept whole). Resolves when the stream
 * ends; rejects when it is refused (with the server's reason) or cut.
 * @param {string} url
 * @param {(text: string) => void} onText
 * @param {AbortSignal} signal
 */
export async function streamLogs(url, onText, signal) {
  const response = await fetch(url, { signal });
  if (!response.ok || !response.body) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onText(decoder.decode(value, { stream: true }));
  }
  const rest = decoder.decode();
  if (rest) onText(rest);
}
