// Files in and out of a tab's container: where dropped or picked files go (the shell's
// working directory, or a folder the person names), and which path to download.
// The transfers themselves are in transfers.js.

import { el } from './dom.js';
import { bytes } from './format.js';
import { field, formDialog } from './dialogs.js';

/** @typedef {import('./terminal-tab.js').TerminalTab} TerminalTab */

/** @type {import('./dom.js').Props<HTMLInputElement>} */
const ABSOLUTE = { pattern: '/.*', title: 'An absolute path, starting with /', required: true, autocomplete: 'off', spellcheck: false };

/**
 * @param {string} value
 * @param {string} text
 * @param {boolean} checked
 * @param {boolean} disabled
 */
function choice(value, text, checked, disabled) {
  const radio = el('input', { type: 'radio', name: 'where', value, checked, disabled });
  return { radio, node: el('label', { className: 'choice' }, radio, text) };
}

const FOLDERS_LEFT_OUT = 'Folders are not uploaded (drop the files in them, or an archive)';

/**
 * @param {File[]} files
 * @param {string[]} folders
 */
function fileSummary(files, folders) {
  const total = files.reduce((sum, f) => sum + f.size, 0);
  const names = files.slice(0, 4).map((f) => f.name).join(', ') + (files.length > 4 ? ` and ${files.length - 4} more` : '');
  const skipped = folders.length ? el('p', { className: 'warning', textContent: `${FOLDERS_LEFT_OUT}: ${folders.join(', ')}.` }) : null;
  return [el('p', { textContent: `${names} (${bytes(total)})` }), skipped];
}

export class FileActions {
  /** @param {import('./transfers.js').Transfers} transfers */
  constructor(transfers) {
    this.transfers = transfers;
    /** @type {WeakMap<TerminalTab, {dir: string, path: string}>} the folder and path last typed, offered again */
    this.remembered = new WeakMap();
  }

  /** @param {TerminalTab} tab */
  memory(tab) {
    let memory = this.remembered.get(tab);
    if (!memory) this.remembered.set(tab, memory = { dir: '/tmp', path: '' });
    return memory;
  }

  /**
   * The shell's directory is only known while its session is live and ours.
   * @param {TerminalTab} tab
   */
  canUseShellDirectory(tab) {
    return tab.session?.mode === 'rw' && tab.session.state === 'live';
  }

  /**
   * Asks where dropped or picked files go; null when the person cancels.
   * @param {TerminalTab} tab
   * @param {import('./terminal-tab.js').Where} where
   * @param {File[]} files
   * @param {string[]} folders
   * @returns {Promise<import('./transfers.js').Destination | null>}
   */
  async askDestination(tab, where, files, folders) {
    const shell = this.canUseShellDirectory(tab);
    const cwd = choice('cwd', "The shell's working directory", shell, !shell);
    const dir = choice('dir', 'This folder:', !shell, false);
    const path = el('input', { name: 'dir', value: this.memory(tab).dir, aria: { label: 'Folder in the container' }, ...ABSOLUTE, required: !shell });
    // The folder only has to be valid when it is where the files go.
    const pick = () => { path.required = dir.radio.checked; };
    cwd.radio.addEventListener('change', pick);
    dir.radio.addEventListener('change', pick);
    path.addEventListener('focus', () => { dir.radio.checked = true; pick(); });
    const fields = [...fileSummary(files, folders), el('fieldset', {}, el('legend', { textContent: `Into ${tab.title}` }), cwd.node, el('div', { className: 'row' }, dir.node, path))];
    if (!await formDialog({ title: 'Upload', fields, submitLabel: 'Upload', className: 'upload-dialog' })) return null;
    const session = tab.session?.session;
    if (cwd.radio.checked && session) return { session };
    this.memory(tab).dir = path.value;
    return { ...where, dir: path.value };
  }

  /**
   * Focus goes back to the terminal, not to the button that started the upload, so
   * typing carries on in the shell. Only a tab in a container (`where`) takes files.
   * @param {TerminalTab} tab
   * @param {{files: File[], folders?: string[]}} dropped
   */
  async upload(tab, { files, folders = [] }) {
    if (!files.length) {
      this.transfers.refuse(`↑ ${folders.join(', ')} → ${tab.title}`, `${FOLDERS_LEFT_OUT}.`);
      return;
    }
    if (!tab.where) return;
    const where = await this.askDestination(tab, tab.where, files, folders);
    tab.view.focus();
    if (!where) return;
    const label = 'session' in where ? tab.title : `${tab.title}:${where.dir}`;
    for (const file of files) await this.transfers.upload(file, where, label);
  }

  /** @param {TerminalTab} tab */
  pickAndUpload(tab) {
    const input = el('input', { type: 'file', multiple: true });
    input.addEventListener('change', () => this.upload(tab, { files: [...input.files ?? []] }));
    input.click();
  }

  /** @param {TerminalTab} tab */
  async download(tab) {
    const where = tab.where;
    if (!where) return;
    const path = el('input', { name: 'path', value: this.memory(tab).path, placeholder: '/etc/os-release', ...ABSOLUTE });
    const fields = [field(`Path in ${tab.title}`, path)];
    const confirmed = await formDialog({ title: 'Download', fields, submitLabel: 'Download', className: 'download-dialog' });
    tab.view.focus();
    if (!confirmed) return;
    this.memory(tab).path = path.value;
    await this.transfers.download({ ...where, path: path.value }, tab.title);
  }
}
