// The table of recorded sessions: when each started, how long it ran, where, whose,
// and its actions. Play is a link to the session's route, so it can be opened in a
// new browser tab or copied; a session in parts plays whole and downloads by part.

import { el } from './dom.js';
import { ago, bytes, dateTime } from './format.js';
import { fileUrl } from './recordings-api.js';
import { recordingRoute } from './router.js';

/** @typedef {import('./recordings-api.js').RecordedSession} RecordedSession */
/** @typedef {import('./recordings-api.js').Recording} Recording */

const COLUMNS = ['Started', 'Duration', 'Container', 'Host', 'Person', 'Actions'];

/**
 * A cell that names its column in data-label, which narrow windows show instead of
 * the table header.
 * @param {string} column
 * @param {...import('./dom.js').Child} content
 */
function cell(column, ...content) {
  return el('td', { dataset: { label: column } }, ...content);
}

/** @param {RecordedSession} session */
function started(session) {
  const iso = new Date(session.started * 1000).toISOString();
  return el('time', { dateTime: iso, textContent: dateTime(session.started) });
}

/**
 * @param {RecordedSession} session
 * @param {Recording} part
 */
function downloadLink(session, part) {
  const text = session.parts.length === 1 ? 'Download .cast' : `Part ${part.part}`;
  return el('a', {
    className: 'download', href: fileUrl(session.host, part.name, { download: true }), download: part.name,
    textContent: text, title: `${part.name} (${bytes(part.size)})`,
  });
}

// What a screen reader says a session's links are for.
const whereOf = (/** @type {RecordedSession} */ session) => `${session.container} on ${session.host}, ${dateTime(session.started)}`;

/**
 * The session's .cast file, or its parts' files, as download links.
 * @param {RecordedSession} session
 */
export function downloadLinks(session) {
  const where = whereOf(session);
  const links = session.parts.map((part) => downloadLink(session, part));
  if (links.length === 1) {
    links[0].setAttribute('aria-label', `Download .cast: ${where}`);
    return links[0];
  }
  return el('span', { className: 'parts', role: 'group', aria: { label: `Download the ${links.length} parts: ${where}` } }, '⇩ ', ...links);
}

/** @param {RecordedSession} session */
function actions(session) {
  const play = el('a', { className: 'play', href: recordingRoute(session.host, session.parts[0].name), aria: { label: `Play ${whereOf(session)}` } },
    el('span', { aria: { hidden: 'true' }, textContent: '▶ ' }), 'Play');
  return [play, downloadLinks(session)];
}

/** @param {RecordedSession} session */
function row(session) {
  const duration = session.duration === null ? el('span', { title: 'Not known yet', textContent: '—' }) : ago(session.duration);
  return el('tr', { dataset: { session: session.session } },
    cell('Started', started(session)), cell('Duration', duration),
    cell('Container', session.container),
    cell('Host', session.host), cell('Person', session.person),
    el('td', { className: 'session-actions' }, ...actions(session)));
}

/** @param {RecordedSession[]} sessions */
export function recordingsTable(sessions) {
  const head = el('tr', {}, ...COLUMNS.map((column) => el('th', { scope: 'col', textContent: column })));
  return el('table', { className: 'recordings' }, el('thead', {}, head), el('tbody', {}, ...sessions.map(row)));
}
