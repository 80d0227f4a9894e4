// Sessions of this person that run with no tab attached (after a reload, or left in
// another browser), offered for reattaching at the top of the container list.

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
  const waiting = sessions.filter((s) => !s.attached && s.tty !== false);
  box.replaceChildren();
  box.hidden = waiting.length === 0;
  if (!waiting.length) return;
  box.append(el('h2', { textContent: 'Your running sessions' }));
  for (const s of waiting) {
    const started = new Date(s.started * 1000);
    const button = el('button', {
      type: 'button', dataset: { session: s.session },
      title: `${s.command.join(' ')}\nstarted ${started.toLocaleString()}`,
    }, `${s.container}@${s.host}`, el('span', { className: 'meta', textContent: `started ${ago(Date.now() / 1000 - s.started)} ago` }));
    const item = el('li', {}, button);
    button.addEventListener('click', () => {
      item.remove();
      box.hidden = !box.querySelector('li');
      onAttach(s);
    });
    box.append(item);
  }
}
