// Sessions of this person that run with no tab attached (after a reload, or left in
// another browser), offered for reattaching at the top of the container list.

import { el } from '/static/dom.js';
import { ago } from '/static/format.js';

// onAttach(session) gets a /api/sessions entry when its button is pressed.
export async function offerReattach(box, onAttach) {
  const response = await fetch('/api/sessions');
  if (!response.ok) return;
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
    button.addEventListener('click', () => {
      button.parentElement.remove();
      box.hidden = !box.querySelector('li');
      onAttach(s);
    });
    box.append(el('li', {}, button));
  }
}
