// The filters over the recordings list. Person, host and container narrow the list
// as one types, on part of a name in any case, each suggesting the names listed.
// From and To pick whole days in the browser's time zone; the server filters by
// those, so a new range means asking it again.

import { el } from './dom.js';
import { field } from './dialogs.js';

/** @typedef {import('./recordings-api.js').RecordedSession} RecordedSession */
/** @typedef {'person' | 'host' | 'container'} TextField */

/** @type {[TextField, string][]} */
const TEXT_FIELDS = [['person', 'Person'], ['host', 'Host'], ['container', 'Container']];

/**
 * The first second of the day `date` (yyyy-mm-dd) plus `days`, in Unix seconds; 0
 * for no date. Made from parts, so a day with a daylight saving change is whole.
 * @param {string} date
 */
function dayStart(date, days = 0) {
  if (!date) return 0;
  const [year, month, day] = date.split('-').map(Number);
  return new Date(year, month - 1, day + days).getTime() / 1000;
}

/**
 * @param {TextField} name
 * @param {string} label
 * @param {() => void} onInput
 */
function textField(name, label, onInput) {
  const names = el('datalist', { id: `recording-${name}-names` });
  const input = el('input', { type: 'search', name, autocomplete: 'off', spellcheck: false });
  input.setAttribute('list', names.id);
  input.addEventListener('input', onInput);
  const node = field(label, input);
  node.append(names);
  return { input, names, node };
}

export class RecordingsFilter {
  /**
   * onText(): a name filter changed. onRange(): a day changed.
   * @param {{onText: () => void, onRange: () => void}} hooks
   */
  constructor({ onText, onRange }) {
    this.text = /** @type {Record<TextField, ReturnType<typeof textField>>} */ (
      Object.fromEntries(TEXT_FIELDS.map(([name, label]) => [name, textField(name, label, onText)])));
    this.from = el('input', { type: 'date', name: 'from' });
    this.to = el('input', { type: 'date', name: 'to' });
    for (const day of [this.from, this.to]) {
      day.addEventListener('change', () => {
        this.from.max = this.to.value;
        this.to.min = this.from.value;
        onRange();
      });
    }
    this.node = el('form', { className: 'recordings-filter', role: 'search', aria: { label: 'Filter recordings' } },
      ...TEXT_FIELDS.map(([name]) => this.text[name].node), field('From', this.from), field('To', this.to));
    this.node.addEventListener('submit', (event) => event.preventDefault());
  }

  // For the server: since From's first second, until the end of To's day.
  range() {
    return { since: dayStart(this.from.value), until: dayStart(this.to.value, 1) };
  }

  narrowing() {
    return Object.values(this.text).some(({ input }) => input.value.trim());
  }

  /** @param {RecordedSession} session */
  matches(session) {
    return TEXT_FIELDS.every(([name]) =>
      session[name].toLowerCase().includes(this.text[name].input.value.trim().toLowerCase()));
  }

  /**
   * Each name field offers the names in `sessions`.
   * @param {RecordedSession[]} sessions
   */
  suggest(sessions) {
    for (const [name] of TEXT_FIELDS) {
      const { names } = this.text[name];
      const values = [...new Set(sessions.map((s) => s[name]))].sort();
      names.replaceChildren(...values.map((value) => el('option', { value })));
    }
  }
}
