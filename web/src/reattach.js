// Sessions of this person that run with no tab attached (after a reload, or left in
// another browser), offered for reattaching at the top of the container list. Kept
// compact however many there are: one line each, newest first, the first few shown
// and the rest behind "Show all", in a list that scrolls by itself.

import { el } from './dom.js';
import { ago } from './format.js';

/**
 * A running session of the person, as GET /api/sessions lists it (session_json).
 * @typedef {object} RunningSession
 * @property {string} session
 * @property {string} host
 * @property {string} container
 * @property {string[]} command what runs, for people
 * @property {string[] | null} cmd what it was opened with (null: the default shell)
 * @property {string | null} user
 * @property {string | null} workdir
 * @property {number} started Unix seconds
 * @property {boolean} attached whether a connection holds it now
 * @property {boolean} tty whether it runs under a tty (the page shows only those)
 */

const SHOWN_FIRST = 3;

/**
 * One line: where it runs, and what and since when, for telling sessions of one
 * container apart.
 * @param {RunningSession} s
 */
function offer(s) {
  const started = new Date(s.started * 1000);
  const what = s.command.join(' ');
  return el('button', {
    type: 'button', dataset: { session: s.session },
    title: `${s.container}@${s.host}\n${what}${s.user ? ` as ${s.user}` : ''}\nstarted ${started.toLocaleString()}`,
  }, el('span', { className: 'where' }, el('span', { className: 'container', textContent: s.container }), el('span', { className: 'host', textContent: `@${s.host}` })),
  el('span', { className: 'meta', textContent: `${what} · ${ago(Date.now() / 1000 - s.started)}` }));
}

/**
 * onAttach(session) gets a /api/sessions entry when its button is pressed.
 * @param {HTMLElement} box
 * @param {(session: RunningSession) => void} onAttach
 */
export async function offerReattach(box, onAttach) {
  const response = await fetch('/api/sessions');
  if (!response.ok) return;
  /** @type {{sessions: RunningSession[]}} */
  const { sessions } = await response.json();
  // Sessions without a tty (dterm exec -T) carry Docker's multiplexed stream: not for a terminal.
  const waiting = sessions.filter((s) => !s.attached && s.tty !== false).sort((a, b) => b.started - a.started);
  const heading = el('h2', { id: 'reattach-heading' });
  const list = el('ul', { id: 'reattach-list', aria: { labelledby: 'reattach-heading' } });
  const more = el('button', { type: 'button', className: 'show-all', aria: { controls: 'reattach-list', expanded: 'false' } });
  let expanded = false;
  const update = () => {
    const items = [...list.children];
    box.hidden = items.length === 0;
    heading.textContent = `Your running sessions (${items.length})`;
    items.forEach((item, i) => { /** @type {HTMLElement} */ (item).hidden = !expanded && i >= SHOWN_FIRST; });
    more.hidden = items.length <= SHOWN_FIRST;
    more.textContent = expanded ? 'Show fewer' : `Show all ${items.length}`;
    more.setAttribute('aria-expanded', String(expanded));
    list.classList.toggle('expanded', expanded);
  };
  more.addEventListener('click', () => { expanded = !expanded; update(); });
  for (const s of waiting) {
    const button = offer(s);
    const item = el('li', {}, button);
    button.addEventListener('click', () => {
      item.remove();
      update();
      onAttach(s);
    });
    list.append(item);
  }
  box.replaceChildren(heading, list, more);
  update();
}
