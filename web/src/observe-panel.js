// Beside a tab's terminal: the container's live stats (CPU, memory, processes) and
// its logs, followed as they come, searched (matches marked, or only matching lines
// shown) and downloaded. Shown only where the policy lets the person see them
// (`observe` on the container: "logs", or "stats" for the stats alone). Hidden, it
// neither polls nor streams. Escape in the panel gives the keyboard back to the shell.

import { el } from './dom.js';
import { bytes } from './format.js';
import { observeUrl, readStats, streamLogs } from './observe-api.js';

const TAIL = 500; // lines asked for when the panel opens or follow is turned on
const KEPT = 5000; // lines kept on the page; the oldest go first
const DOWNLOAD_TAIL = 10000; // the most a host gives by default
const STATS_EVERY_MS = 3000;
// Colours and cursor moves a program meant for a terminal: shown as plain text.
// eslint-disable-next-line no-control-regex -- terminal escapes are what it finds
const ESCAPES = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

/** @typedef {{host: string, container: string}} Place */

/**
 * A line's text with every match of `query` (case-insensitive) in <mark>.
 * @param {HTMLElement} node
 * @param {string} text
 * @param {string} query lowercase
 */
function mark(node, text, query) {
  if (!query) { node.textContent = text; return; }
  const lower = text.toLowerCase();
  const parts = [];
  let at = 0;
  for (let found = lower.indexOf(query); found >= 0; found = lower.indexOf(query, at)) {
    parts.push(text.slice(at, found), el('mark', { textContent: text.slice(found, found + query.length) }));
    at = found + query.length;
  }
  parts.push(text.slice(at));
  node.replaceChildren(...parts);
}

/** @param {number | null} percent */
function cpuText(percent) {
  return percent === null ? '…' : `${percent.toFixed(percent < 10 ? 1 : 0)} %`;
}

/** @param {import('./observe-api.js').Stats} stats */
function memoryText(stats) {
  return stats.memory_limit ? `${bytes(stats.memory)} / ${bytes(stats.memory_limit)}` : bytes(stats.memory);
}

export class ObservePanel {
  /**
   * @param {HTMLElement} pane the tab's pane, which the panel shares with the terminal
   * @param {string} title the tab's title, for labels
   * @param {() => void} onClose
   */
  constructor(pane, title, onClose) {
    this.pane = pane;
    this.onClose = onClose;
    /** @type {Place | null} */
    this.place = null;
    this.logsAllowed = false;
    /** @type {AbortController | null} */
    this.streaming = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.partial = '';
    /** @param {string} name @param {string} label */
    const figure = (name, label) => el('span', { className: 'figure' }, el('span', { className: 'what', textContent: label }), el('span', { className: 'value', dataset: { stat: name }, textContent: '…' }));
    this.figures = { cpu: figure('cpu', 'CPU'), memory: figure('memory', 'Memory'), pids: figure('pids', 'Processes') };
    this.follow = el('input', { type: 'checkbox', checked: true });
    this.search = el('input', { type: 'search', placeholder: 'Search logs', aria: { label: 'Search the logs' }, spellcheck: false });
    this.only = el('input', { type: 'checkbox' });
    this.count = el('span', { className: 'count', aria: { live: 'polite' } });
    this.download = el('a', { className: 'download-logs', textContent: '⇩', title: 'Download the logs', aria: { label: 'Download the logs' } });
    this.lines = el('div', { className: 'log-lines', tabIndex: 0, role: 'log', aria: { label: 'Log lines' } });
    this.note = el('p', { className: 'log-note', role: 'status' });
    this.stats = this.buildStats();
    this.logs = this.buildLogs();
    this.node = el('aside', { className: 'observe', hidden: true, aria: { label: `Logs and stats of ${title}` } }, this.stats, this.logs);
    this.node.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !(event.target instanceof HTMLInputElement && event.target.value)) {
        event.preventDefault();
        this.onClose();
      }
    });
    pane.append(this.node);
  }

  buildStats() {
    const close = el('button', { type: 'button', className: 'close-observe', textContent: '×', title: 'Close (Escape)', aria: { label: 'Close logs and stats' } });
    close.addEventListener('click', () => this.onClose());
    return el('div', { className: 'stats', role: 'group', aria: { label: 'Resource use' } }, ...Object.values(this.figures), close);
  }

  buildLogs() {
    this.follow.addEventListener('change', () => (this.follow.checked ? this.startLogs() : this.stopLogs('Paused: new lines are not shown.')));
    this.search.addEventListener('input', () => this.render());
    this.only.addEventListener('change', () => this.render());
    this.download.setAttribute('download', '');
    const bar = el('div', { className: 'log-bar' },
      el('label', { className: 'check', title: 'Show new lines as the container prints them' }, this.follow, 'Follow'),
      this.search, el('label', { className: 'check', title: 'Show only the lines that match' }, this.only, 'Only matching'),
      this.count, this.download);
    return el('section', { className: 'logs', aria: { label: 'Logs' } }, bar, this.lines, this.note);
  }

  get shown() { return !this.node.hidden; }

  /**
   * Shows the panel for a container; `what` is what the policy allows there.
   * @param {Place} place
   * @param {'stats' | 'logs'} what
   */
  open(place, what) {
    this.place = place;
    this.logsAllowed = what === 'logs';
    this.logs.hidden = !this.logsAllowed;
    this.node.hidden = false;
    this.pane.classList.add('observing');
    this.download.href = observeUrl(place.host, place.container, 'logs', { tail: DOWNLOAD_TAIL, download: 1 });
    this.pollStats();
    if (this.logsAllowed) {
      if (this.follow.checked) this.startLogs(); else this.loadOnce();
      this.search.focus();
    } else this.node.querySelector('button')?.focus();
  }

  close() {
    this.node.hidden = true;
    this.pane.classList.remove('observing');
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopLogs('');
  }

  async pollStats() {
    clearTimeout(this.timer);
    if (!this.shown || !this.place) return;
    try {
      const stats = await readStats(this.place.host, this.place.container);
      this.value('cpu').textContent = cpuText(stats.cpu_percent);
      this.value('cpu').title = `of one CPU; ${stats.online_cpus} online`;
      this.value('memory').textContent = memoryText(stats);
      this.value('pids').textContent = String(stats.pids);
      this.stats.dataset.readAt = String(stats.read_at);
      this.stats.classList.remove('failed');
      this.stats.title = '';
    } catch (err) {
      this.stats.classList.add('failed');
      this.stats.title = `Stats: ${err instanceof Error ? err.message : err}`;
    }
    if (this.shown) this.timer = setTimeout(() => this.pollStats(), STATS_EVERY_MS);
  }

  /** @param {'cpu' | 'memory' | 'pids'} name */
  value(name) {
    return /** @type {HTMLElement} */ (this.figures[name].querySelector('.value'));
  }

  startLogs() { this.stream({ tail: TAIL, follow: 1 }, 'Following: new lines appear as they come.'); }

  loadOnce() { this.stream({ tail: TAIL }, ''); }

  /**
   * Replaces the lines with a fresh tail, and with follow=1 goes on with new ones.
   * @param {Record<string, number>} query
   * @param {string} note what the panel says while it runs
   */
  async stream(query, note) {
    if (!this.place) return;
    this.stopLogs(note);
    const controller = new AbortController();
    this.streaming = controller;
    this.lines.replaceChildren();
    this.partial = '';
    const url = observeUrl(this.place.host, this.place.container, 'logs', query);
    try {
      await streamLogs(url, (text) => this.add(text), controller.signal);
      if (this.streaming === controller) this.ended(query.follow ? 'The logs ended: the container stopped.' : '');
    } catch (err) {
      if (this.streaming !== controller) return; // stopped on purpose
      const why = err instanceof Error ? err.message : String(err);
      this.ended(err instanceof TypeError ? 'The stream was cut (it fell behind, or the host was lost). Turn Follow on again to resume.' : `No logs: ${why}`);
    }
  }

  /** @param {string} note */
  ended(note) {
    this.streaming = null;
    if (this.partial) this.addLine(this.partial);
    this.partial = '';
    this.follow.checked = false;
    this.note.textContent = note;
  }

  /** @param {string} note */
  stopLogs(note) {
    const running = this.streaming;
    this.streaming = null;
    running?.abort();
    this.note.textContent = note;
  }

  /** @param {string} text more of the log, cut anywhere */
  add(text) {
    const pieces = (this.partial + text).split('\n');
    this.partial = pieces.pop() ?? '';
    const atBottom = this.lines.scrollTop + this.lines.clientHeight >= this.lines.scrollHeight - 4;
    for (const line of pieces) this.addLine(line);
    while (this.lines.childElementCount > KEPT) this.lines.firstElementChild?.remove();
    if (atBottom) this.lines.scrollTop = this.lines.scrollHeight;
    this.describe();
  }

  /** @param {string} raw */
  addLine(raw) {
    const line = el('div', { className: 'line' });
    line.dataset.text = raw.replace(ESCAPES, '').replace(/\r$/, '');
    this.show(line, this.search.value.toLowerCase());
    this.lines.append(line);
  }

  /**
   * @param {HTMLElement} line
   * @param {string} query lowercase
   */
  show(line, query) {
    const text = line.dataset.text ?? '';
    const matches = Boolean(query) && text.toLowerCase().includes(query);
    line.hidden = this.only.checked && Boolean(query) && !matches;
    line.classList.toggle('match', matches);
    mark(line, text, matches ? query : '');
  }

  render() {
    const query = this.search.value.toLowerCase();
    for (const line of this.lines.children) this.show(/** @type {HTMLElement} */ (line), query);
    this.describe();
    this.lines.querySelector('.match')?.scrollIntoView({ block: 'nearest' });
  }

  describe() {
    if (!this.search.value) { this.count.textContent = ''; return; }
    const found = this.lines.querySelectorAll('.match').length;
    this.count.textContent = found === 1 ? '1 line' : `${found} lines`;
  }

  dispose() {
    this.close();
    this.node.remove();
  }
}
