// One terminal session over /ws/exec (protocol v1): bytes in, bytes out, acks for flow control.
// Output is written to xterm.js as Uint8Array and never decoded here.

const ACK_EVERY = 16 * 1024;

export class TerminalSession {
  constructor({ term, host, container, cmd = null, user = null, onState = () => {} }) {
    this.term = term;
    this.target = { host, container, cmd, user };
    this.onState = onState;
    this.window = 0;
    this.received = 0;
    this.consumed = 0;
    this.acked = 0;
    this.pending = 0;
    this.encoder = new TextEncoder();
    this.disposables = [
      term.onData((text) => this.sendBytes(this.encoder.encode(text))),
      term.onBinary((text) => this.sendBytes(Uint8Array.from(text, (c) => c.charCodeAt(0)))),
      term.onResize(({ cols, rows }) => this.sendControl({ type: 'resize', cols, rows })),
    ];
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws/exec`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      const { cols, rows } = this.term;
      this.sendControl({ type: 'open', ...this.target, cols, rows });
    };
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') this.handleControl(JSON.parse(event.data));
      else this.handleOutput(new Uint8Array(event.data));
    };
    ws.onclose = () => {
      if (this.state !== 'exited') this.setState('closed', 'connection closed');
    };
    this.ws = ws;
    this.setState('connecting');
  }

  handleOutput(bytes) {
    this.received += bytes.length;
    this.pending += 1;
    this.term.write(bytes, () => {
      this.consumed += bytes.length;
      this.pending -= 1;
      if (this.consumed - this.acked >= ACK_EVERY || this.pending === 0) this.ack();
    });
  }

  ack() {
    if (this.consumed > this.acked) {
      this.acked = this.consumed;
      this.sendControl({ type: 'ack', offset: this.acked });
    }
  }

  handleControl(message) {
    switch (message.type) {
      case 'opened':
        this.session = message.session;
        this.window = message.window;
        this.setState('live');
        break;
      case 'exit': {
        const code = message.code === null ? 'unknown' : message.code;
        const why = message.reason === 'exited' ? `exited with code ${code}` : `${message.reason} (code ${code})`;
        this.term.write(`\r\n\x1b[7m[session ${why}]\x1b[0m\r\n`);
        this.setState('exited', why);
        this.ws.close();
        break;
      }
      case 'error':
        this.term.write(`\r\n\x1b[31m[${message.code}: ${message.message}]\x1b[0m\r\n`);
        if (this.state !== 'live') this.setState('error', message.message);
        break;
    }
  }

  sendBytes(bytes) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.state === 'live') this.ws.send(bytes);
  }

  sendControl(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  close() {
    this.sendControl({ type: 'close' });
  }

  dispose() {
    this.disposables.forEach((d) => d.dispose());
    if (this.ws) this.ws.close();
  }

  setState(state, detail = '') {
    this.state = state;
    this.onState(state, detail);
  }
}
