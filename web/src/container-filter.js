// What the container search box means. Words are separated by spaces and all must
// match, case-insensitively:
//   web          part of the name, image, host, or of a label's key or value
//   team=pay     a label whose key is `team` and whose value contains `pay`
//   team=        a label whose key is `team`, any value
//   project:shop a container of a Compose project whose name contains `shop`
//   stack:shop   a container of a Swarm stack whose name contains `shop`
//   service:web  a container of a Compose or Swarm service whose name contains `web`

/**
 * One word of a query: text anywhere, a label's key and part of its value, or part
 * of a service's name, project or stack.
 * @typedef {{text: string, key?: undefined, value?: undefined, field?: undefined}
 *   | {key: string, value: string, text?: undefined, field?: undefined}
 *   | {field: 'project' | 'stack' | 'service', value: string, text?: undefined, key?: undefined}} Term
 */

const FIELDS = ['project', 'stack', 'service'];

/** @typedef {import('./container-store.js').Container} Container */

/**
 * @param {string} word
 * @returns {Term}
 */
function term(word) {
  const colon = word.indexOf(':');
  const field = word.slice(0, colon);
  if (colon > 0 && FIELDS.includes(field)) return { field: /** @type {'project' | 'stack' | 'service'} */ (field), value: word.slice(colon + 1) };
  const eq = word.indexOf('=');
  if (eq <= 0) return { text: word };
  return { key: word.slice(0, eq), value: word.slice(eq + 1) };
}

/** @param {string} query */
export function parseQuery(query) {
  return query.toLowerCase().split(/\s+/).filter(Boolean).map(term);
}

/**
 * @param {Term} t
 * @param {Container} container
 * @param {string} host
 */
function matchesTerm(t, container, host) {
  if (t.field !== undefined) {
    const name = container.service?.[t.field];
    return Boolean(name) && String(name).toLowerCase().includes(t.value);
  }
  const labels = Object.entries(container.labels ?? {}).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]);
  if (t.key !== undefined) return labels.some(([k, v]) => k === t.key && v.includes(t.value));
  const text = t.text;
  const fields = [container.name, container.image, host].map((f) => (f ?? '').toLowerCase());
  return fields.some((f) => f.includes(text)) || labels.some(([k, v]) => k.includes(text) || v.includes(text));
}

/**
 * @param {Term[]} terms
 * @param {Container} container
 * @param {string} host
 */
export function matches(terms, container, host) {
  return terms.every((t) => matchesTerm(t, container, host));
}
