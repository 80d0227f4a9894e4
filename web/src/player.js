// Plays a session recording in the page with asciinema-player: an asciicast v2 file,
// or the parts of one that was rotated, put back on one timeline by their headers'
// dterm.offset. The player brings play and pause, a seek bar, full screen and its
// keyboard shortcuts (space, ←/→ to seek, [ and ] to jump between markers such as
// the exit, , and . to step a frame, ? for help); we add a speed menu.
//
// asciinema-player takes its speed once, when it is made: another speed makes a new
// player at the same moment, playing if the old one was. The recording is fetched and
// parsed once and handed to every player as data, so a new speed costs no request.
//
// The player's module (by its package name, which the page's import map resolves) and
// its stylesheet are loaded on first use.
// Knows nothing about sessions or where recordings are listed: it gets URLs.

const PLAYER_CSS = '/vendor/asciinema-player/dist/bundle/asciinema-player.css';

/** @typedef {import('asciinema-player').Player} Player */

/**
 * An asciicast v2 header, with the part of a rotated recording and where its events
 * start on the session's timeline.
 * @typedef {{version: number, dterm?: {part?: number, offset?: number}}} CastHeader
 */

/** @typedef {[time: number, code: string, data: string]} CastEvent */

/**
 * What playRecording() takes besides where and what: see there.
 * @typedef {object} PlayOptions
 * @property {number} [speed]
 * @property {boolean} [autoPlay]
 * @property {number} [idleTimeLimit]
 * @property {RequestInit} [fetchOptions]
 * @property {import('asciinema-player').Options} [player]
 */

export const SPEEDS = [0.5, 1, 2, 4];

/** @type {Promise<typeof import('asciinema-player')> | null} */
let playerModule = null;

function loadStylesheet() {
  return new Promise((resolve, reject) => {
    const link = Object.assign(document.createElement('link'), { rel: 'stylesheet', href: PLAYER_CSS });
    link.addEventListener('load', resolve);
    link.addEventListener('error', () => {
      link.remove();
      reject(new Error(`cannot load ${PLAYER_CSS}`));
    });
    document.head.append(link);
  });
}

// The module and its stylesheet, both: a player measures its font when it is made,
// and before the stylesheet applies it would measure the wrong one and draw its text
// smaller or larger than its screen.
function loadPlayer() {
  playerModule ??= Promise.all([import('asciinema-player'), loadStylesheet()]).then(([module]) => module, (error) => {
    playerModule = null; // let a later call try again
    throw error;
  });
  return playerModule;
}

/**
 * One recording as asciinema-player takes it as data: [header, ...events], the
 * parts' events moved to one timeline. fetchOptions go to every fetch.
 * @param {string[]} urls
 * @param {RequestInit} [fetchOptions]
 * @returns {Promise<[CastHeader, ...CastEvent[]]>}
 */
export async function loadRecording(urls, fetchOptions = {}) {
  const texts = await Promise.all(urls.map(async (url) => {
    const response = await fetch(url, fetchOptions);
    if (!response.ok) throw new Error(`cannot load the recording ${url}: HTTP ${response.status}`);
    return response.text();
  }));
  const parts = texts.map(parseCast).sort((a, b) => partNumber(a.header) - partNumber(b.header));
  /** @type {CastEvent[]} */
  const events = [];
  let end = 0;
  for (const { header, events: own } of parts) {
    const offset = header.dterm?.offset ?? end;
    for (const [time, code, data] of own) events.push([time + offset, code, data]);
    end = events.length ? events[events.length - 1][0] : end;
  }
  if (events.length === 0) events.push([0, 'o', '']); // the player needs one event
  return [parts[0].header, ...events];
}

const partNumber = (/** @type {CastHeader} */ header) => header.dterm?.part ?? 1;

/**
 * A recording whose worker died may end with a line cut short: that line is left
 * out. Anything else that is not JSON is an error.
 * @param {string} text
 * @returns {{header: CastHeader, events: CastEvent[]}}
 */
function parseCast(text) {
  const lines = text.split('\n');
  /** @type {CastHeader | null} */
  const header = JSON.parse(lines[0]);
  if (header?.version !== 2) throw new Error('not an asciicast v2 recording');
  /** @type {CastEvent[]} */
  const events = [];
  for (let i = 1; i < lines.length; i += 1) {
    if (lines[i] === '') continue;
    try {
      events.push(JSON.parse(lines[i]));
    } catch (error) {
      if (i < lines.length - 1) throw error;
    }
  }
  return { header, events };
}

class RecordingPlayer {
  /**
   * @param {HTMLElement} container
   * @param {string[]} urls
   * @param {PlayOptions} options
   */
  constructor(container, urls, options) {
    this.options = options;
    this.speed = options.speed ?? 1;
    /** @type {Player | null} */
    this.player = null;
    /** @type {typeof import('asciinema-player').create | null} once the module is loaded */
    this.create = null;
    /** @type {unknown[] | null} once loaded */
    this.recording = null;
    this.playing = false;
    this.generation = 0;
    this.disposed = false;
    this.screen = Object.assign(document.createElement('div'), { className: 'recording-screen' });
    this.speedMenu = this.makeSpeedMenu();
    const controls = Object.assign(document.createElement('div'), { className: 'recording-controls' });
    const label = Object.assign(document.createElement('label'), { textContent: 'Speed ' });
    label.append(this.speedMenu);
    controls.append(label);
    this.root = Object.assign(document.createElement('div'), { className: 'recording-player' });
    this.root.append(this.screen, controls);
    container.append(this.root);
    this.ready = this.start(urls);
  }

  makeSpeedMenu() {
    const select = document.createElement('select');
    const speeds = SPEEDS.includes(this.speed) ? SPEEDS : [...SPEEDS, this.speed].sort((a, b) => a - b);
    for (const speed of speeds) select.append(new Option(`${speed}×`, String(speed)));
    select.value = String(this.speed);
    select.addEventListener('change', () => this.setSpeed(Number(select.value)));
    return select;
  }

  /** @param {string[]} urls */
  async start(urls) {
    try {
      const [{ create }, recording] = await Promise.all([
        loadPlayer(), loadRecording(urls, this.options.fetchOptions),
      ]);
      this.create = create;
      this.recording = recording;
      if (!this.disposed) await this.mount(0, this.options.autoPlay ?? true);
    } catch (error) {
      if (!this.disposed) {
        const message = Object.assign(document.createElement('p'), { className: 'recording-error' });
        message.textContent = `The recording cannot be played: ${error instanceof Error ? error.message : error}`;
        this.screen.replaceChildren(message);
      }
      throw error;
    }
  }

  /**
   * A new player at `time` (seconds on the player's timeline), playing or paused.
   * @param {number} time
   * @param {boolean} play
   */
  async mount(time, play) {
    if (!this.create || !this.recording) return;
    const generation = ++this.generation;
    this.screen.style.minHeight = `${this.screen.offsetHeight}px`; // no jump while it is replaced
    this.player?.dispose();
    this.screen.replaceChildren();
    const player = this.create({ data: this.recording }, this.screen, {
      fit: 'width', controls: true, idleTimeLimit: this.options.idleTimeLimit,
      ...this.options.player, speed: this.speed, autoPlay: false, preload: true,
    });
    this.player = player;
    this.playing = false;
    player.addEventListener('play', () => { this.playing = true; });
    player.addEventListener('playing', () => { this.playing = true; });
    player.addEventListener('pause', () => { this.playing = false; });
    player.addEventListener('ended', () => { this.playing = false; });
    if (time > 0) await player.seek(time);
    if (play && generation === this.generation) await player.play();
    if (generation === this.generation) this.screen.style.minHeight = '';
  }

  /**
   * @param {number} speed
   * @returns {Promise<void>}
   */
  setSpeed(speed) {
    if (!(speed > 0) || speed === this.speed) return this.ready;
    this.speed = speed;
    if (![...this.speedMenu.options].some((option) => Number(option.value) === speed)) {
      this.speedMenu.append(new Option(`${speed}×`, String(speed)));
    }
    this.speedMenu.value = String(speed);
    if (!this.player) return this.ready;
    return this.mount(this.player.getCurrentTime() ?? 0, this.playing);
  }

  dispose() {
    this.disposed = true;
    this.generation += 1;
    this.player?.dispose();
    this.player = null;
    this.root.remove();
  }
}

/**
 * Play the recording at `source` (a URL, or the URLs of its parts) in `container`.
 * options: speed (1), autoPlay (true), idleTimeLimit (seconds of stillness kept; all
 * by default), fetchOptions (for fetch), player (more asciinema-player options, such
 * as theme or terminalFontSize).
 * Returns a handle at once: ready (a promise, rejected when the recording cannot be
 * loaded), speed, setSpeed(speed), player (the asciinema-player, once made) and
 * dispose(), which removes everything it added to `container`.
 * @param {HTMLElement} container
 * @param {string | string[]} source
 * @param {PlayOptions} [options]
 */
export function playRecording(container, source, options = {}) {
  const urls = Array.isArray(source) ? source : [source];
  if (urls.length === 0) throw new Error('no recording to play');
  return new RecordingPlayer(container, urls, options);
}
