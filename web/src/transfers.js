// File transfers with /api/files, each shown as a card with a progress bar in the
// transfers panel. XMLHttpRequest rather than fetch: it reports upload progress, which
// fetch cannot. Uploads over the server's limit are refused here, before any byte goes.

import { el } from './dom.js';
import { bytes } from './format.js';

/**
 * Where an upload goes: the shell's working directory of a session, or a folder of a
 * container (user null: the container's default user).
 * @typedef {{session: string} | {host: string, container: string, user: string | null, dir: string}} Destination
 */

/**
 * What a download fetches (user null or absent: the container's default user).
 * @typedef {{host: string, container: string, user?: string | null, path: string}} Source
 */

const DONE_SHOWN_MS = 8000;
/** @type {Record<number, string>} */
const STATUS = {
  400: 'Bad path', 403: 'Not allowed', 404: 'Not found', 408: 'Timed out', 409: 'Not running',
  413: 'Too large', 422: 'Not possible here', 429: 'Too many transfers', 503: 'Host unreachable',
};

class Card {
  /**
   * @param {HTMLElement} panel
   * @param {string} title
   */
  constructor(panel, title) {
    this.bar = el('progress', { max: 1, value: 0, aria: { label: title } });
    this.detail = el('span', { className: 'detail', textContent: 'starting…' });
    this.cancel = el('button', { type: 'button', className: 'dismiss', textContent: '×', aria: { label: `Cancel ${title}` } });
    this.node = el('div', { className: 'transfer', dataset: { state: 'running' } }, el('div', { className: 'line' }, el('span', { className: 'what', textContent: title }), this.cancel), this.bar, this.detail);
    panel.append(this.node);
    panel.hidden = false;
  }

  // A download's size may not be known ahead: the bar then only says it is moving.
  /**
   * @param {number} done
   * @param {number} total 0 when not known
   */
  progress(done, total) {
    if (total) this.bar.value = done / total;
    else this.bar.removeAttribute('value');
    this.detail.textContent = total ? `${bytes(done)} of ${bytes(total)}` : bytes(done);
  }

  // Progress is not announced, byte counts would drown a screen reader; the outcome
  // is, as a fresh alert or status node.
  /**
   * @param {'done' | 'failed'} state
   * @param {string} text
   */
  finish(state, text) {
    this.node.dataset.state = state;
    const outcome = el('span', { className: 'detail', role: state === 'failed' ? 'alert' : 'status', textContent: text });
    this.detail.replaceWith(outcome);
    this.detail = outcome;
    this.cancel.setAttribute('aria-label', 'Dismiss');
    this.cancel.onclick = () => this.remove();
    if (state === 'done') setTimeout(() => this.remove(), DONE_SHOWN_MS);
  }

  remove() {
    const panel = this.node.parentElement;
    this.node.remove();
    if (panel && !panel.children.length) panel.hidden = true;
  }
}

/** @param {XMLHttpRequest} xhr */
async function errorText(xhr) {
  if (xhr.status === 0) return 'The connection failed.';
  let message = xhr.response?.message; // a JSON response: our API's {error, message}
  if (xhr.response instanceof Blob) {
    try { message = JSON.parse(await xhr.response.text()).message; } catch { /* a proxy's error page */ }
  }
  return `${STATUS[xhr.status] ?? `HTTP ${xhr.status}`}: ${(message || 'no reason given').replace(/\.$/, '')}.`;
}

/**
 * Sends one request; progress goes to the card, and its × aborts it.
 * @param {Card} card
 * @param {object} request
 * @param {string} request.method
 * @param {string} request.url
 * @param {XMLHttpRequestBodyInit | null} [request.body]
 * @param {Record<string, string>} [request.headers]
 * @param {XMLHttpRequestResponseType} [request.responseType]
 * @returns {Promise<XMLHttpRequest>} once answered 200
 */
function send(card, { method, url, body = null, headers = {}, responseType = 'json' }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.responseType = responseType;
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    const track = (/** @type {ProgressEvent} */ event) => card.progress(event.loaded, event.lengthComputable ? event.total : 0);
    (body ? xhr.upload : xhr).addEventListener('progress', track);
    xhr.onload = () => (xhr.status === 200 ? resolve(xhr) : errorText(xhr).then((text) => reject(new Error(text))));
    xhr.onerror = () => reject(new Error('The connection failed.'));
    xhr.onabort = () => reject(new Error('Cancelled.'));
    card.cancel.onclick = () => xhr.abort();
    xhr.send(body);
  });
}

/**
 * The in-container user goes with the query only when one was chosen.
 * @param {Record<string, string>} query
 * @param {string | null | undefined} user
 */
function withUser(query, user) {
  return user ? { ...query, user } : query;
}

/**
 * @param {XMLHttpRequest} xhr
 * @param {string} fallback
 */
function filename(xhr, fallback) {
  const header = xhr.getResponseHeader('Content-Disposition') ?? '';
  const encoded = header.match(/filename\*=UTF-8''([^;]+)/i);
  return encoded ? decodeURIComponent(encoded[1]) : fallback;
}

/**
 * @param {Blob} blob
 * @param {string} name
 */
function save(blob, name) {
  const url = URL.createObjectURL(blob);
  el('a', { href: url, download: name }).click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // the download reads it after click() returns
}

export class Transfers {
  /**
   * @param {HTMLElement} panel
   * @param {import('./sign-in.js').Auth} auth for the XSRF token and the upload limit
   */
  constructor(panel, auth) {
    this.panel = panel;
    this.auth = auth;
  }

  // A transfer refused before it started, shown like one that failed.
  /**
   * @param {string} title
   * @param {string} text
   */
  refuse(title, text) {
    new Card(this.panel, title).finish('failed', text);
  }

  /**
   * Resolves the stored file's {host, container, path, size}, or null on failure.
   * @param {File} file
   * @param {Destination} where
   * @param {string} label
   * @returns {Promise<{host: string, container: string, path: string, size: number} | null>}
   */
  async upload(file, where, label) {
    const card = new Card(this.panel, `↑ ${file.name} → ${label}`);
    const limit = this.auth.max_upload_bytes;
    if (limit && file.size > limit) {
      card.finish('failed', `Too large: ${bytes(file.size)} is over the upload limit of ${bytes(limit)}.`);
      return null;
    }
    const query = 'session' in where
      ? { session: where.session, name: file.name }
      : withUser({ host: where.host, container: where.container, path: `${where.dir.replace(/\/+$/, '')}/${file.name}` }, where.user);
    try {
      const xhr = await send(card, { method: 'PUT', url: `/api/files?${new URLSearchParams(query)}`, body: file, headers: { 'X-XSRFToken': this.auth.xsrf } });
      card.finish('done', `Uploaded to ${xhr.response.path} (${bytes(xhr.response.size)}).`);
      return xhr.response;
    } catch (err) {
      card.finish('failed', /** @type {Error} */ (err).message); // send() rejects with Errors only
      return null;
    }
  }

  /**
   * Fetches a file and hands it to the browser's downloads; resolves true when saved.
   * @param {Source} source
   * @param {string} label
   */
  async download({ host, container, user, path }, label) {
    const fallback = path.split('/').filter(Boolean).pop() || 'download';
    const card = new Card(this.panel, `↓ ${fallback} ← ${label}`);
    try {
      const query = withUser({ host, container, path }, user);
      const xhr = await send(card, { method: 'GET', url: `/api/files?${new URLSearchParams(query)}`, responseType: 'blob' });
      save(xhr.response, filename(xhr, fallback));
      card.finish('done', `Downloaded ${path} (${bytes(xhr.response.size)}).`);
      return true;
    } catch (err) {
      card.finish('failed', /** @type {Error} */ (err).message);
      return false;
    }
  }
}
