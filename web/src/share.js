// Sharing a watch link: copied to the clipboard where the browser allows it, and said
// so only then. Browsers give the clipboard API to secure contexts alone (https, or
// http on this very machine), so a page served over plain http from another host has
// none; a browser may also refuse it (no permission, the page not focused). Then a
// dialog shows the link selected in a read-only field, to copy by hand.

import { el } from './dom.js';
import { field, formDialog } from './dialogs.js';

/** @typedef {(text: string, options?: {passing?: boolean}) => void} StatusLine */

/**
 * Copies `text`; resolves '' when it is on the clipboard, else why it is not.
 * @param {string} text
 * @returns {Promise<string>}
 */
async function copy(text) {
  if (!navigator.clipboard?.writeText) {
    return window.isSecureContext
      ? 'this browser gives pages no clipboard'
      : 'browsers give no clipboard to a page served over plain http from another host';
  }
  try {
    await navigator.clipboard.writeText(text);
    return '';
  } catch (err) {
    return `the browser refused the clipboard (${/** @type {Error} */ (err).message || 'no reason given'})`;
  }
}

/**
 * The link, selected in a field, and a Copy button that tries the older way (which
 * some browsers allow on a click even without the clipboard API) and says whether it
 * worked.
 * @param {string} link
 * @param {string} why
 */
async function copyByHand(link, why) {
  // A text area, not a line: the whole link stays in sight for checking it.
  const input = el('textarea', { readOnly: true, value: link, name: 'watch-link', spellcheck: false, rows: 3 });
  const said = el('p', { className: 'copy-result', role: 'status' });
  const button = el('button', { type: 'button', textContent: 'Copy', className: 'secondary' });
  button.addEventListener('click', () => {
    input.focus();
    input.select();
    // execCommand is deprecated, but the only way left where the clipboard API is missing.
    const copied = document.execCommand('copy');
    said.textContent = copied ? 'Copied.' : 'The browser did not allow copying either: press Ctrl+C (⌘C on a Mac).';
  });
  input.addEventListener('focus', () => input.select());
  const fields = [
    el('p', { textContent: `Not copied: ${why}. Copy the link by hand; it is selected.` }),
    field('Read-only link to this session', input, 'Ctrl+C (⌘C on a Mac) copies it'),
    el('div', { className: 'row' }, button, said),
  ];
  const closed = formDialog({ title: 'Share a watch link', fields, submitLabel: 'Done', cancelLabel: '', className: 'share-dialog' });
  input.focus();
  await closed;
}

/**
 * @param {string} link
 * @param {StatusLine} onStatus
 */
export async function shareLink(link, onStatus) {
  const why = await copy(link);
  if (!why) {
    onStatus(`Watch link copied: ${link}`, { passing: true });
    return;
  }
  onStatus('The watch link was not copied: copy it by hand.', { passing: true });
  await copyByHand(link, why);
}
