// One terminal session over /ws/exec (protocol v1): bytes in, bytes out, acks for flow
// control, and resume: when the connection drops, reconnect with backoff and attach from
// the last byte received, so nothing is lost or doubled. Output is written to xterm.js as
// Uint8Array and never decoded here.

const BACKOFF = [500, 1000, 2000, 4000, 8000, 15000];

export class TerminalSession {
  // target: {host, container, cmd, user, workdir} to open, or {session, mode, token} to attach.
  constructor({ term, target, onState = () => {}, onInfo = () => {} }) {
    this.term = term;
    this.target = target;
    this.onState = onState;
    this.onInfo = onInfo;
    this.mode = target.mode || 'rw';
    this.session = target.session || null;
    this.offset = target.session ? (target.offset || 0) : 0; // session offset received
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
        if (this.mode === 'rw') this.sendControl({ type: 'resize', cols, rows });
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
      this.sendControl({ type: 'attach', session: this.session, offset: this.offset, mode: this.mode, token: this.target.token || '' });
    } else {
      const { host, container, cmd = null, user = null, workdir = null } = this.target;
      this.sendControl({ type: 'open', host, container, cmd, user, workdir, cols: this.term.cols, rows: this.term.rows });
    }
  }

  dropped() {
    if (['exited', 'detached', 'closed', 'error'].includes(this.state)) return;
    if (!this.session) { this.setState('error', 'connection closed before the session opened'); return; }
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
      this.sendControl({ type: 'ack', offset: this.acked });
    }
  }

  skip(bytes) {
    this.offset += bytes;
    this.consumed += bytes;
    this.term.write(`\r\n\x1b[33m[${bytes} bytes of output were no longer kept]\x1b[0m\r\n`);
  }

  handleControl(message) {
    switch (message.type) {
      case 'opened':
        this.session = message.session;
        this.mode = message.mode;
        this.offset = message.offset;
        this.consumed = this.acked = message.offset;
        this.ackEvery = Math.max(1, Math.floor(message.window / 4));
        this.attempt = 0;
        if (message.skipped) this.term.write(`\r\n\x1b[33m[${message.skipped} bytes of output were no longer kept]\x1b[0m\r\n`);
        if (this.mode === 'ro') this.term.resize(message.cols, message.rows);
        else if (message.cols !== this.term.cols || message.rows !== this.term.rows) {
          this.sendControl({ type: 'resize', cols: this.term.cols, rows: this.term.rows });
        }
        this.onInfo({ opened: message });
        this.setState('live', this.mode === 'ro' ? 'watching (read-only)' : '');
        break;
      case 'skipped':
        this.skip(message.bytes);
        break;
      case 'size':
        if (this.mode === 'ro') this.term.resize(message.cols, message.rows);
        break;
      case 'watchers':
        this.onInfo({ watchers: message.watchers });
        break;
      case 'idle-warning':
        this.term.write(`\r\n\x1b[33m[idle: this session ends in ${message.seconds} s unless you type]\x1b[0m\r\n`);
        break;
      case 'detached':
        this.term.write(`\r\n\x1b[33m[${message.message}]\x1b[0m\r\n`);
        this.setState('detached', message.message);
        this.ws.close();
        break;
      case 'exit': {
        const code = message.code === null ? 'unknown' : message.code;
        const why = message.reason === 'exited' ? `exited with code ${code}` : `${message.reason} (code ${code})`;
        const detail = message.message ? `: ${message.message}` : '';
        this.term.write(`\r\n\x1b[7m[session ${why}${detail}]\x1b[0m\r\n`);
        this.exit = message;
        this.setState('exited', why);
        this.ws.close();
        break;
      }
      case 'error':
        this.term.write(`\r\n\x1b[31m[${message.code}: ${message.message}]\x1b[0m\r\n`);
        if (this.state !== 'live') { this.setState('error', message.message); this.ws.close(); }
        break;
    }
  }

  sendBytes(bytes) {
    if (this.mode === 'rw' && this.state === 'live' && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  sendControl(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  // End the session (its processes too), not just this connection.
  close() {
    if (this.mode === 'rw' && this.state === 'live') this.sendControl({ type: 'close' });
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

  setState(state, detail = '') {
    this.state = state;
    this.onState(state, detail);
  }
}
