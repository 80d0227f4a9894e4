// One terminal session over /ws/exec (protocol v1): bytes in, bytes out, acks for flow
// control, and resume: when the connection drops, reconnect with backoff and attach from
// the last byte received, so nothing is lost or doubled. Output is written to xterm.js as
// Uint8Array and never decoded here.

import * as protocol from './protocol.js';
import { Server } from './protocol.js';
import { signedOut } from './sign-in.js';

/** @typedef {import('./protocol.js').Mode} Mode */

/**
 * A new session to open (cmd, user, workdir null or absent: the image's defaults),
 * in a container, or in a running replica of a service the server picks.
 * @typedef {object} OpenTarget
 * @property {string} [host]
 * @property {string} [container]
 * @property {import('./services.js').ServiceName} [service]
 * @property {string[] | null} [cmd]
 * @property {string | null} [user]
 * @property {string | null} [workdir]
 */

/**
 * A running session to resume ('rw', its owner) or watch ('ro', with a watch token).
 * @typedef {{session: string, mode: Mode, token?: string, offset: number}} AttachTarget
 */

/** @typedef {OpenTarget | AttachTarget} Target */

/** @typedef {'connecting' | 'live' | 'reconnecting' | 'exited' | 'detached' | 'error' | 'closed' | 'signed-out'} State */

/** @typedef {import('./protocol.js').OpenedMessage} OpenedMessage */
/** @typedef {import('./protocol.js').ExitMessage} ExitMessage */
/** @typedef {import('./protocol.js').Watcher} Watcher */
/** @typedef {import('./protocol.js').ServerMessage} ServerMessage */

/** @typedef {{opened?: OpenedMessage, watchers?: Watcher[]}} SessionInfo */

const BACKOFF = [500, 1000, 2000, 4000, 8000, 15000];
/** @type {ReadonlySet<State | undefined>} states after which a lost connection is not resumed */
const OVER = new Set(['exited', 'detached', 'closed', 'error', 'signed-out']);

export class TerminalSession {
  /**
   * onState(state, detail) hears each change of state; onInfo({opened} or {watchers})
   * what the server says about the session.
   * @param {object} options
   * @param {import('@xterm/xterm').Terminal} options.term
   * @param {Target} options.target
   * @param {(state: State, detail: string) => void} [options.onState]
   * @param {(info: SessionInfo) => void} [options.onInfo]
   */
  constructor({ term, target, onState = () => {}, onInfo = () => {} }) {
    this.term = term;
    this.onState = onState;
    this.onInfo = onInfo;
    this.opening = 'session' in target ? null : target;
    /** @type {Mode} */
    this.mode = 'mode' in target ? target.mode : 'rw';
    /** @type {string | null} */
    this.session = 'session' in target ? target.session : null;
    this.token = 'token' in target ? target.token ?? '' : '';
    this.offset = 'offset' in target ? target.offset : 0; // session offset received
    /** @type {State | undefined} */
    this.state = undefined;
    /** @type {ExitMessage | null} how it ended, once it has */
    this.exit = null;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.consumed = this.offset;
    this.acked = this.offset;
    this.ackEvery = 64 * 1024; // a quarter of the window `opened` announces
    this.pending = 0;
    this.attempt = 0;
    this.encoder = new TextEncoder();
    this.disposables = [
      term.onData((text) => this.sendBytes(this.encoder.encode(text))),
      term.onBinary((text) => this.sendBytes(Uint8Array.from(text, (c) => c.charCodeAt(0)))),
      term.onResize(({ cols, rows }) => {
        if (this.mode === 'rw') this.sendControl(protocol.resize(cols, rows));
      }),
    ];
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws/exec`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => this.join();
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') this.handleControl(JSON.parse(event.data));
      else this.handleOutput(new Uint8Array(event.data));
    };
    ws.onclose = () => this.dropped();
    this.ws = ws;
    if (!this.state) this.setState('connecting');
  }

  join() {
    if (this.session) {
      this.sendControl(protocol.attach(this.session, this.offset, this.mode, this.token));
    } else if (this.opening) {
      const { host = null, container, service, cmd = null, user = null, workdir = null } = this.opening;
      const where = service ? { host, ...service } : { host, container };
      this.sendControl(protocol.open(where, { cmd, user, workdir }, this.term.cols, this.term.rows));
    }
  }

  async dropped() {
    if (OVER.has(this.state)) return;
    if (!this.session) { this.setState('error', 'connection closed before the session opened'); return; }
    // A sign-in that ended (signed out elsewhere, revoked, expired) refuses every
    // reconnect: say so once instead of counting down forever.
    if (await signedOut()) { this.setState('signed-out', 'your sign-in has ended'); return; }
    if (OVER.has(this.state)) return;
    this.retry();
  }

  retry() {
    const delay = BACKOFF[Math.min(this.attempt, BACKOFF.length - 1)];
    this.attempt += 1;
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      this.setState('reconnecting', `reconnecting in ${left} s`);
      if (Date.now() >= until) this.connect();
      else this.timer = setTimeout(tick, Math.min(250, until - Date.now()));
    };
    tick();
  }

  /** @param {Uint8Array} bytes */
  handleOutput(bytes) {
    this.offset += bytes.length;
    this.pending += 1;
    this.term.write(bytes, () => {
      this.consumed += bytes.length;
      this.pending -= 1;
      // A quarter window at a time: the front end passes acks on in such steps
      // anyway, and keystroke echoes then cost no ack message each.
      if (this.consumed - this.acked >= this.ackEvery) this.ack();
    });
  }

  ack() {
    if (this.consumed > this.acked) {
      this.acked = this.consumed;
      this.sendControl(protocol.ack(this.acked));
    }
  }

  /** @param {number} bytes */
  skip(bytes) {
    this.offset += bytes;
    this.consumed += bytes;
    this.term.write(`\r\n\x1b[33m[${bytes} bytes of output were no longer kept]\x1b[0m\r\n`);
  }

  /** @param {ServerMessage} message */
  handleControl(message) {
    switch (message.type) {
      case Server.OPENED:
        this.session = message.session;
        this.mode = message.mode;
        this.offset = message.offset;
        this.consumed = this.acked = message.offset;
        this.ackEvery = Math.max(1, Math.floor(message.window / 4));
        this.attempt = 0;
        if (message.skipped) this.term.write(`\r\n\x1b[33m[${message.skipped} bytes of output were no longer kept]\x1b[0m\r\n`);
        if (this.mode === 'ro') this.term.resize(message.cols, message.rows);
        else if (message.cols !== this.term.cols || message.rows !== this.term.rows) {
          this.sendControl(protocol.resize(this.term.cols, this.term.rows));
        }
        this.onInfo({ opened: message });
        this.setState('live', this.mode === 'ro' ? 'watching (read-only)' : '');
        break;
      case Server.SKIPPED:
        this.skip(message.bytes);
        break;
      case Server.SIZE:
        if (this.mode === 'ro') this.term.resize(message.cols, message.rows);
        break;
      case Server.WATCHERS:
        this.onInfo({ watchers: message.watchers });
        break;
      case Server.IDLE_WARNING:
        this.term.write(`\r\n\x1b[33m[idle: this session ends in ${message.seconds} s unless you type]\x1b[0m\r\n`);
        break;
      case Server.DETACHED:
        this.term.write(`\r\n\x1b[33m[${message.message}]\x1b[0m\r\n`);
        this.setState('detached', message.message);
        this.ws?.close();
        break;
      case Server.EXIT: {
        const code = message.code === null ? 'unknown' : message.code;
        const why = message.reason === 'exited' ? `exited with code ${code}` : `${message.reason} (code ${code})`;
        const detail = message.message ? `: ${message.message}` : '';
        this.term.write(`\r\n\x1b[7m[session ${why}${detail}]\x1b[0m\r\n`);
        this.exit = message;
        this.setState('exited', why);
        this.ws?.close();
        break;
      }
      case Server.ERROR:
        this.term.write(`\r\n\x1b[31m[${message.code}: ${message.message}]\x1b[0m\r\n`);
        if (this.state !== 'live') { this.setState('error', message.message); this.ws?.close(); }
        break;
    }
  }

  /** @param {Uint8Array} bytes */
  sendBytes(bytes) {
    if (this.mode === 'rw' && this.state === 'live' && this.ws?.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  /** @param {{type: string} & Record<string, unknown>} message */
  sendControl(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  // End the session (its processes too), not just this connection.
  close() {
    if (this.mode === 'rw' && this.state === 'live') this.sendControl(protocol.close());
    else this.dispose();
  }

  // Skips the rest of the backoff wait, for people who know the network is back.
  reconnectNow() {
    if (this.state !== 'reconnecting') return;
    clearTimeout(this.timer);
    this.connect();
  }

  // Simulates a network drop, for tests: the session resumes.
  drop() {
    if (this.ws) this.ws.close();
  }

  dispose() {
    clearTimeout(this.timer);
    this.disposables.forEach((d) => d.dispose());
    this.state = 'closed';
    if (this.ws) this.ws.close();
  }

  /**
   * @param {State} state
   * @param {string} [detail]
   */
  setState(state, detail = '') {
    this.state = state;
    this.onState(state, detail);
  }
}
