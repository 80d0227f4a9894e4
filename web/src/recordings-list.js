// The recordings list (#/recordings): a heading, the filters, a line saying what is
// shown (or why nothing is), hosts that did not answer, and the table of sessions.
// It asks the server each time it is shown, on Refresh and when the days change; the
// name filters work on what it already has. When asks overlap, the last one counts.

import { el } from './dom.js';
import { RecordingsForbidden, groupSessions, listRecordings } from './recordings-api.js';
import { RecordingsFilter } from './recordings-filter.js';
import { recordingsTable } from './recordings-table.js';

/** @type {(count: number, word: string) => string} */
const plural = (count, word) => `${count} ${word}${count === 1 ? '' : 's'}`;

export class RecordingsList {
  /**
   * onClose(): the person is done with recordings.
   * @param {{onClose: () => void}} hooks
   */
  constructor({ onClose }) {
    /** @type {import('./recordings-api.js').RecordedSession[]} */
    this.sessions = [];
    /** @type {string | null} why nothing can be listed */
    this.failure = null;
    this.forbidden = false;
    this.asked = 0;
    this.filter = new RecordingsFilter({ onText: () => this.render(), onRange: () => this.load() });
    this.heading = el('h2', { tabIndex: -1, textContent: 'Recordings' });
    this.refresh = el('button', { type: 'button', className: 'secondary', textContent: 'Refresh', title: 'List the recordings again' });
    this.refresh.addEventListener('click', () => this.load());
    const close = el('button', { type: 'button', className: 'secondary close-view', textContent: 'Close', title: 'Back to the terminals' });
    close.addEventListener('click', onClose);
    this.summary = el('p', { className: 'summary', role: 'status' });
    this.problems = el('ul', { className: 'problems', hidden: true });
    this.results = el('div', { className: 'results' });
    this.node = el('div', { className: 'recordings-list' },
      el('div', { className: 'view-head' }, this.heading, this.refresh, close),
      this.filter.node, this.summary, this.problems, this.results);
  }

  // Resolves once the answer is shown, or as soon as a later ask replaces this one.
  async load() {
    const asked = ++this.asked;
    this.summary.textContent = 'Loading recordings…';
    let answer = null;
    /** @type {Error | null} */
    let error = null;
    try {
      answer = await listRecordings(this.filter.range());
    } catch (caught) {
      error = /** @type {Error} */ (caught); // listRecordings' own, or fetch's
    }
    if (asked !== this.asked) return;
    this.forbidden = error instanceof RecordingsForbidden;
    this.failure = error && (this.forbidden ? error.message : `The recordings cannot be listed: ${error.message}`);
    this.sessions = groupSessions(answer?.recordings ?? []);
    this.filter.suggest(this.sessions);
    this.showProblems(answer?.errors ?? []);
    this.render();
  }

  /** @param {import('./recordings-api.js').HostError[]} errors */
  showProblems(errors) {
    this.problems.hidden = errors.length === 0;
    this.problems.replaceChildren(...errors.map((e) => el('li', { textContent: `${e.host} did not answer: ${e.message}` })));
  }

  render() {
    this.filter.node.hidden = this.forbidden;
    this.refresh.hidden = this.forbidden;
    this.summary.classList.toggle('failure', Boolean(this.failure));
    const shown = this.sessions.filter((session) => this.filter.matches(session));
    this.summary.textContent = this.failure ?? this.describe(shown.length);
    this.results.replaceChildren(...(shown.length ? [recordingsTable(shown)] : []));
  }

  /** @param {number} shown how many sessions the filters leave */
  describe(shown) {
    const total = this.sessions.length;
    const { since, until } = this.filter.range();
    if (total === 0) return since || until ? 'No session was recorded on these days.' : 'No recordings yet: sessions are recorded as they run.';
    if (!this.filter.narrowing()) return `${plural(total, 'recorded session')}, newest first`;
    return shown ? `Showing ${shown} of ${plural(total, 'recorded session')}` : 'No session matches these filters.';
  }

  /**
   * Focus for a person who just came here: the Play link of what they just watched,
   * else the heading.
   * @param {string | null} played the route of the recording last played
   */
  focus(played) {
    /** @type {NodeListOf<HTMLAnchorElement>} */
    const links = this.results.querySelectorAll('a.play');
    const link = played && [...links].find((a) => a.getAttribute('href') === played);
    (link || this.heading).focus();
  }
}
