// The settings menu in the header: theme, font size, copy on select, screen reader
// mode, the terminals' renderer, full screen, and the keyboard shortcuts. A popover,
// so the browser handles Escape, clicks outside and the top layer.

import { el } from './dom.js';
import { webglProblem } from './renderer.js';

/** @typedef {import('./settings.js').Settings} Settings */

/**
 * @param {Settings} settings
 * @param {'copyOnSelect' | 'screenReader'} name
 * @param {string} text
 * @param {string} hint
 */
function checkbox(settings, name, text, hint) {
  const box = el('input', { type: 'checkbox', checked: settings.get(name), name });
  box.addEventListener('change', () => settings.set(name, box.checked));
  settings.onChange((changed, value) => { if (changed === name) box.checked = value; });
  return el('label', { className: 'check', title: hint }, box, text);
}

/**
 * Radio buttons in a row, for a setting of a few values.
 * @template {'theme' | 'renderer'} K
 * @param {Settings} settings
 * @param {K} name
 * @param {string} legend
 * @param {[import('./settings.js').SettingValues[K], string][]} choices value and label
 * @param {string} hint
 */
function segmented(settings, name, legend, choices, hint) {
  const radios = choices.map(([value]) => {
    const radio = el('input', { type: 'radio', name, value, id: `settings-${name}-${value}`, checked: settings.get(name) === value });
    radio.addEventListener('change', () => settings.set(.../** @type {import('./settings.js').SettingChange} */ ([name, value])));
    return radio;
  });
  settings.onChange((changed, value) => {
    if (changed === name) for (const radio of radios) radio.checked = radio.value === value;
  });
  const labels = radios.map((radio, i) => el('label', {}, radio, choices[i][1]));
  return el('fieldset', { className: 'segmented', title: hint }, el('legend', { textContent: legend }), ...labels);
}

// Where WebGL does not work in this browser, the menu says why terminals use the DOM.
function rendererNote() {
  const note = el('p', { className: 'renderer-note', role: 'note', hidden: true });
  const update = () => {
    const problem = webglProblem();
    note.hidden = !problem;
    note.textContent = problem ? `WebGL is not used here: ${problem}. Terminals are drawn by the DOM renderer.` : '';
  };
  return { note, update };
}

/** @param {Settings} settings */
function fontSize(settings) {
  const value = el('output', { textContent: String(settings.get('fontSize')), aria: { label: 'Font size' } });
  /** @type {(text: string, label: string, delta: number) => HTMLButtonElement} */
  const step = (text, label, delta) => {
    const button = el('button', { type: 'button', textContent: text, aria: { label } });
    button.addEventListener('click', () => settings.set('fontSize', settings.get('fontSize') + delta));
    return button;
  };
  settings.onChange((name, size) => { if (name === 'fontSize') value.textContent = String(size); });
  return el('div', { className: 'font-size' }, el('span', { textContent: 'Font size' }), step('−', 'Smaller text', -1), value, step('+', 'Larger text', 1));
}

/**
 * The Keyboard Lock API, in Chromium only (and not yet in TypeScript's DOM types).
 * @typedef {Navigator & {keyboard?: {lock(codes?: string[]): Promise<void>}}} LockingNavigator
 */

// Full screen with a keyboard lock is where Chromium lets Ctrl-W, Ctrl-T and Ctrl-N
// through to the shell (hold Escape to leave).
async function toggleFullScreen() {
  if (document.fullscreenElement) { await document.exitFullscreen(); return; }
  await document.documentElement.requestFullscreen();
  await /** @type {LockingNavigator} */ (navigator).keyboard?.lock(['KeyW', 'KeyT', 'KeyN']).catch(() => {});
}

const SHORTCUTS = [
  ['/', 'Search containers'], ['↑ ↓ Enter', 'Move in the list, open'], ['Shift+Enter', 'Open with options'],
  ['Ctrl+Shift+F', 'Search the terminal'], ['Ctrl+Shift+C / V', 'Copy / paste'], ['Ctrl + − 0', 'Font size'],
  ['← → Delete', 'On a tab: switch, close'],
];

/** @param {Settings} settings */
export function settingsMenu(settings) {
  const full = el('button', { type: 'button', textContent: 'Full screen', title: 'In full screen Ctrl-W and Ctrl-T reach the shell (Chromium)' });
  full.addEventListener('click', () => toggleFullScreen().catch(() => {}));
  const keys = el('dl', { className: 'shortcuts' }, ...SHORTCUTS.flatMap(([key, what]) => [el('dt', {}, el('kbd', { textContent: key })), el('dd', { textContent: what })]));
  const note = rendererNote();
  const panel = el('div', { id: 'settings', className: 'menu', popover: 'auto', role: 'dialog', aria: { label: 'Settings' } },
    segmented(settings, 'theme', 'Theme', [['dark', 'Dark'], ['light', 'Light']], 'Colours of the page and its terminals'),
    fontSize(settings),
    checkbox(settings, 'copyOnSelect', 'Copy on select', 'Selecting text in a terminal copies it'),
    checkbox(settings, 'screenReader', 'Screen reader mode', 'Lets screen readers read the terminal output'),
    segmented(settings, 'renderer', 'Renderer', [['webgl', 'WebGL'], ['dom', 'DOM']],
      'WebGL draws faster; where it fails, terminals fall back to the DOM renderer by themselves'),
    note.note, full, el('h2', { textContent: 'Keyboard' }), keys);
  panel.addEventListener('beforetoggle', note.update);
  const button = el('button', { type: 'button', className: 'icon settings-button', textContent: '⚙', title: 'Settings', aria: { label: 'Settings' } });
  button.setAttribute('popovertarget', 'settings');
  return [button, panel];
}
