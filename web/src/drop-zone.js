// Dropping files from the desktop onto an element, with an overlay saying what a drop
// will do. Only drags that carry files count: text dragged inside the page is left to
// the browser.

import { el } from './dom.js';

const carriesFiles = (event) => event.dataTransfer?.types.includes('Files');

// Folders arrive as empty File objects that fail to read; they are told apart here so
// the person hears why they were left out.
function split(dataTransfer) {
  const files = [];
  const folders = [];
  for (const item of dataTransfer.items) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry?.isDirectory) folders.push(entry.name);
    else files.push(item.getAsFile());
  }
  return { files, folders };
}

// onDrop({files, folders}) gets the dropped files and the names of dropped folders.
// accepts() says whether drops are taken now (uploads may not be allowed there);
// while it says no, a drag shows no overlay and the browser shows it cannot drop.
export function dropZone(target, message, onDrop, accepts = () => true) {
  const overlay = el('div', { className: 'drop-overlay', hidden: true }, el('span', { textContent: message }));
  target.append(overlay);
  // dragenter and dragleave fire for every child crossed: count to know when it leaves.
  let depth = 0;
  const taken = (event) => carriesFiles(event) && accepts();
  target.addEventListener('dragenter', (event) => {
    if (!taken(event)) return;
    event.preventDefault();
    depth += 1;
    overlay.hidden = false;
  });
  target.addEventListener('dragover', (event) => {
    if (!taken(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  target.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    overlay.hidden = depth > 0;
  });
  target.addEventListener('drop', (event) => {
    if (!taken(event)) return;
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
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (event) => { if (carriesFiles(event)) event.preventDefault(); });
  }
}
