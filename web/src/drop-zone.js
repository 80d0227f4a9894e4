// Dropping files from the desktop onto an element, with an overlay saying what a drop
// will do. Only drags that carry files count: text dragged inside the page is left to
// the browser.

import { el } from './dom.js';

/** @param {DragEvent} event */
const carriesFiles = (event) => Boolean(event.dataTransfer?.types.includes('Files'));

/**
 * Dropped files, and the names of dropped folders (which are not uploaded).
 * @typedef {{files: File[], folders: string[]}} Dropped
 */

// Folders arrive as empty File objects that fail to read; they are told apart here so
// the person hears why they were left out.
/**
 * @param {DataTransfer} dataTransfer
 * @returns {Dropped}
 */
function split(dataTransfer) {
  /** @type {File[]} */
  const files = [];
  /** @type {string[]} */
  const folders = [];
  for (const item of dataTransfer.items) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    const file = item.getAsFile();
    if (entry?.isDirectory) folders.push(entry.name);
    else if (file) files.push(file);
  }
  return { files, folders };
}

/**
 * onDrop({files, folders}) gets the dropped files and the names of dropped folders.
 * accepts() says whether drops are taken now (uploads may not be allowed there);
 * while it says no, a drag shows no overlay and the browser shows it cannot drop.
 * @param {HTMLElement} target
 * @param {string} message
 * @param {(dropped: Dropped) => void} onDrop
 * @param {() => boolean} [accepts]
 */
export function dropZone(target, message, onDrop, accepts = () => true) {
  const overlay = el('div', { className: 'drop-overlay', hidden: true }, el('span', { textContent: message }));
  target.append(overlay);
  // dragenter and dragleave fire for every child crossed: count to know when it leaves.
  let depth = 0;
  const taken = (/** @type {DragEvent} */ event) => carriesFiles(event) && accepts();
  target.addEventListener('dragenter', (event) => {
    if (!taken(event)) return;
    event.preventDefault();
    depth += 1;
    overlay.hidden = false;
  });
  target.addEventListener('dragover', (event) => {
    if (!taken(event)) return;
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
  });
  target.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    overlay.hidden = depth > 0;
  });
  target.addEventListener('drop', (event) => {
    if (!taken(event) || !event.dataTransfer) return;
    event.preventDefault();
    event.stopPropagation();
    depth = 0;
    overlay.hidden = true;
    onDrop(split(event.dataTransfer));
  });
}

// A file dropped where nothing takes it would make the browser leave the page to show
// it, ending every terminal's connection.
export function guardPageDrops() {
  for (const type of /** @type {const} */ (['dragover', 'drop'])) {
    window.addEventListener(type, (event) => { if (carriesFiles(event)) event.preventDefault(); });
  }
}
