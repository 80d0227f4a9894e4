// "Open with…": which program, as which user, in which directory, before a session
// starts. The answer becomes the `cmd`, `user` and `workdir` of the protocol's `open`.

import { el } from './dom.js';
import { field, formDialog } from './dialogs.js';

// A command line as a shell would split it, for the simple cases people type: words
// split on spaces, 'single quotes' kept literally, "double quotes" and a backslash
// escaping the next character. No variables, globs or pipes: there is no shell here.
/**
 * @param {string} line
 * @returns {string[]}
 */
export function splitCommand(line) {
  /** @type {string[]} */
  const words = [];
  /** @type {string | null} */
  let word = null;
  /** @type {string | null} */
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'" && c !== "'") { word += c; continue; }
    if (c === '\\' && quote !== "'" && i + 1 < line.length) { word = (word ?? '') + line[++i]; continue; }
    if (c === quote) { quote = null; continue; }
    if (!quote && (c === '"' || c === "'")) { quote = c; word ??= ''; continue; }
    if (!quote && /\s/.test(c)) { if (word !== null) words.push(word); word = null; continue; }
    word = (word ?? '') + c;
  }
  if (quote) throw new Error(`the ${quote === '"' ? 'double' : 'single'} quote is not closed`);
  if (word !== null) words.push(word);
  return words;
}

const SHELLS = [['auto', 'Default shell (bash, else sh)'], ['bash', 'bash'], ['sh', 'sh'], ['custom', 'Command…']];

function shellPicker() {
  const select = el('select', { name: 'shell' }, ...SHELLS.map(([value, text]) => el('option', { value, textContent: text })));
  const command = el('input', { name: 'command', placeholder: "e.g. top -d 2, or sh -c 'ps; df'", autocomplete: 'off', spellcheck: false, pattern: '.*\\S.*' });
  const commandField = field('Command line', command, 'Split on spaces; quote with \' or ", escape with \\');
  commandField.hidden = true;
  select.addEventListener('change', () => {
    commandField.hidden = select.value !== 'custom';
    command.required = !commandField.hidden;
    if (!commandField.hidden) command.focus();
  });
  command.addEventListener('input', () => {
    try {
      splitCommand(command.value);
      command.setCustomValidity('');
    } catch (err) {
      command.setCustomValidity(`The ${/** @type {Error} */ (err).message}.`); // splitCommand's own
    }
  });
  return { select, command, commandField };
}

/**
 * @param {{select: HTMLSelectElement, command: HTMLInputElement}} shell
 * @returns {string[] | null} null: the default shell
 */
function commandOf({ select, command }) {
  if (select.value === 'auto') return null;
  return select.value === 'custom' ? splitCommand(command.value) : [select.value];
}

/**
 * Resolves {cmd, user, workdir} to open with, or null when the person cancels.
 * @param {string} container
 * @param {string} host
 */
export async function askOpenOptions(container, host) {
  const shell = shellPicker();
  const user = el('input', { name: 'user', placeholder: "image's default", autocomplete: 'off', spellcheck: false });
  const workdir = el('input', { name: 'workdir', placeholder: "image's default", autocomplete: 'off', spellcheck: false, pattern: '/.*', title: 'An absolute path, starting with /' });
  const fields = [
    el('p', { className: 'target', textContent: `${container}@${host}` }),
    field('Program', shell.select),
    shell.commandField,
    field('User', user, 'A name or uid known in the container'),
    field('Working directory', workdir),
  ];
  if (!await formDialog({ title: 'Open a terminal', fields, submitLabel: 'Open', className: 'open-dialog' })) return null;
  return { cmd: commandOf(shell), user: user.value.trim() || null, workdir: workdir.value.trim() || null };
}
