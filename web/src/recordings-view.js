// The recordings page, shown in place of the terminals: the list (#/recordings) or one
// session playing (#/recordings/<host>/<name>). Terminal tabs stay as they are behind
// it and come back with Back, Close or by opening a container. The header's link to
// it says when it is the page shown.

import { RecordingPlayback } from './recording-playback.js';
import { RecordingsList } from './recordings-list.js';
import { recordingRoute } from './router.js';

export class RecordingsView {
  /**
   * onClose(): show the terminals again.
   * @param {object} parts
   * @param {HTMLElement} parts.section where it shows
   * @param {HTMLElement} parts.workspace the terminals, hidden while it shows
   * @param {HTMLElement} parts.link the header's link to it
   * @param {() => void} parts.onClose
   */
  constructor({ section, workspace, link, onClose }) {
    this.section = section;
    this.workspace = workspace;
    this.link = link;
    this.list = new RecordingsList({ onClose });
    this.playback = new RecordingPlayback();
    /** @type {string | null} the route of the last recording played, to find its way back in the list */
    this.played = null;
    section.append(this.list.node, this.playback.node);
  }

  async showList() {
    this.reveal(this.list.node);
    this.playback.close();
    document.title = 'Recordings · dterm';
    this.list.heading.focus();
    await this.list.load();
    if (document.activeElement === this.list.heading) this.list.focus(this.played);
  }

  /**
   * @param {string} host
   * @param {string} name
   */
  play(host, name) {
    this.reveal(this.playback.node);
    this.played = recordingRoute(host, name);
    this.playback.open(host, name);
  }

  hide() {
    this.playback.close();
    this.section.hidden = true;
    this.workspace.hidden = false;
    this.link.removeAttribute('aria-current');
  }

  /** @param {HTMLElement} panel */
  reveal(panel) {
    this.section.hidden = false;
    this.workspace.hidden = true;
    this.link.setAttribute('aria-current', 'page');
    this.list.node.hidden = panel !== this.list.node;
    this.playback.node.hidden = panel !== this.playback.node;
  }
}
