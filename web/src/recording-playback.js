// One recorded session playing (#/recordings/<host>/<name>): a bar with the way back
// to the list, what was recorded (container, host, person, when, how long) and its
// download, over the player (player.js), which brings seeking and the speed menu. A
// file that is one part of a longer session plays the whole session.

import { el } from './dom.js';
import { ago, dateTime } from './format.js';
import { playRecording } from './player.js';
import { PLAYER_THEME, installPlayerTheme } from './player-theme.js';
import { fileUrl, findSession } from './recordings-api.js';
import { downloadLinks } from './recordings-table.js';
import { RECORDINGS_ROUTE } from './router.js';
import { TERMINAL_FONT } from './themes.js';

/** @typedef {import('./recordings-api.js').RecordedSession} RecordedSession */

// Fit the whole terminal in the room there is, in the page's colours and font.
/** @type {import('asciinema-player').Options} */
const PLAYER_OPTIONS = { fit: 'both', theme: PLAYER_THEME, terminalFontFamily: TERMINAL_FONT };

/**
 * Who, when, how long and in how many parts, each kept on one line.
 * @param {RecordedSession} session
 */
function facts(session) {
  const items = [el('span', { textContent: `by ${session.person}` }), el('time', { textContent: dateTime(session.started) })];
  if (session.duration !== null) items.push(el('span', { textContent: ago(session.duration) }));
  if (session.parts.length > 1) items.push(el('span', { textContent: `${session.parts.length} parts` }));
  return items.flatMap((item, index) => (index ? [' · ', item] : [item]));
}

export class RecordingPlayback {
  constructor() {
    /** @type {ReturnType<typeof playRecording> | null} playRecording()'s, while one plays */
    this.handle = null;
    this.opened = 0; // counts open() and close(), so a late answer for an earlier one is dropped
    this.heading = el('h2', { tabIndex: -1 });
    this.about = el('p', { className: 'about' });
    this.downloads = el('div', { className: 'downloads' });
    const back = el('a', { className: 'back', href: RECORDINGS_ROUTE },
      el('span', { aria: { hidden: 'true' }, textContent: '← ' }), 'All recordings');
    this.stage = el('div', { className: 'stage' });
    this.node = el('div', { className: 'recording-playback' },
      el('div', { className: 'playback-head' }, back, el('div', { className: 'what' }, this.heading, this.about), this.downloads),
      this.stage);
  }

  /**
   * Plays the session that the file `name` on `host` is part of.
   * @param {string} host
   * @param {string} name
   */
  async open(host, name) {
    this.close();
    const opened = this.opened;
    this.heading.textContent = `Recording on ${host}`;
    this.about.textContent = 'Loading…';
    document.title = 'Recording · dterm';
    this.heading.focus();
    try {
      const session = await findSession(host, name);
      if (opened === this.opened) this.play(session);
    } catch (error) {
      if (opened === this.opened) this.fail(/** @type {Error} */ (error)); // findSession's, or fetch's
    }
  }

  /** @param {RecordedSession} session */
  play(session) {
    this.heading.textContent = `${session.container}@${session.host}`;
    this.about.replaceChildren(...facts(session));
    this.downloads.replaceChildren(downloadLinks(session));
    document.title = `${this.heading.textContent} recording · dterm`;
    installPlayerTheme();
    const urls = session.parts.map((part) => fileUrl(part.host, part.name));
    const handle = playRecording(this.stage, urls, { player: PLAYER_OPTIONS });
    this.handle = handle;
    // Keys go to the player (Space, arrows) unless the person has moved on meanwhile;
    // a player that cannot load says why in its place.
    handle.ready.then(() => {
      if (document.activeElement === this.heading) handle.player?.el.focus();
    }, () => {});
  }

  /** @param {Error} error */
  fail(error) {
    this.about.textContent = '';
    this.stage.replaceChildren(el('p', { className: 'recording-error', role: 'alert', textContent: error.message }));
  }

  close() {
    this.opened += 1;
    this.handle?.dispose();
    this.handle = null;
    this.downloads.replaceChildren();
    this.stage.replaceChildren();
  }
}
