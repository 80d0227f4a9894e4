// Modal dialogs on the native <dialog> element, which traps focus, closes on Escape and
// gives focus back to where it was (usually the terminal) when it closes.

import { el } from './dom.js';

let nextId = 1;

/**
 * Shows a form; resolves true when it is submitted (the browser has checked its fields'
 * constraints by then), false when cancelled.
 * @param {object} form
 * @param {string} form.title
 * @param {import('./dom.js').Child[]} form.fields
 * @param {string} form.submitLabel
 * @param {string} [form.cancelLabel] '' for a dialog with nothing to cancel
 * @param {string} [form.className]
 * @returns {Promise<boolean>}
 */
export function formDialog({ title, fields, submitLabel, cancelLabel = 'Cancel', className = '' }) {
  const heading = el('h2', { id: `dialog-${nextId++}`, textContent: title });
  const cancel = cancelLabel ? el('button', { type: 'button', className: 'secondary', textContent: cancelLabel }) : null;
  const submit = el('button', { type: 'submit', value: 'ok', textContent: submitLabel });
  const form = el('form', { method: 'dialog' }, heading, ...fields, el('div', { className: 'actions' }, cancel, submit));
  const dialog = el('dialog', { className, aria: { labelledby: heading.id } }, form);
  document.body.append(dialog);
  cancel?.addEventListener('click', () => dialog.close(''));
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'ok');
    });
  });
}

/**
 * @param {string} message
 * @param {string} confirmLabel
 */
export function confirmDialog(message, confirmLabel) {
  return formDialog({ title: 'Are you sure?', fields: [el('p', { textContent: message })], submitLabel: confirmLabel });
}

/**
 * A labelled field: the label wraps the control, so clicking the text focuses it.
 * @param {string} label
 * @param {HTMLElement} control
 */
export function field(label, control, hint = '') {
  return el('label', { className: 'field' }, el('span', { textContent: label }), control,
    hint ? el('small', { textContent: hint }) : null);
}
