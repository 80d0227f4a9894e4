// Who is signed in, the sign-in form when nobody is, and signing out.
// POSTs carry the XSRF token the server hands out in /api/auth.

import { el } from './dom.js';

/**
 * GET /api/auth: who is signed in and how one signs in here (frontend_server/login.py).
 * @typedef {object} Auth
 * @property {string | null} user
 * @property {string[]} groups
 * @property {string[]} methods 'password', 'token', 'proxy'
 * @property {number} max_upload_bytes 0: no limit
 * @property {boolean} recordings whether the person may see any
 * @property {string} xsrf the token POSTs carry
 */

/** @returns {Promise<Auth>} */
export async function whoAmI() {
  const response = await fetch('/api/auth');
  return response.json();
}

/**
 * Whether the server says nobody is signed in here any more; an unreachable server
 * says nothing about that (false).
 * @returns {Promise<boolean>}
 */
export async function signedOut() {
  try {
    const response = await fetch('/api/auth');
    return response.ok && !(await response.json()).user;
  } catch {
    return false;
  }
}

/**
 * @param {string} path
 * @param {string} xsrf
 * @param {object} body
 */
async function post(path, xsrf, body) {
  return fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-XSRFToken': xsrf },
    body: JSON.stringify(body),
  });
}

/**
 * Shows the way to sign in that this server offers; resolves when signed in.
 * @param {HTMLElement} container
 * @param {Auth} auth
 * @returns {Promise<void>}
 */
export function signInForm(container, auth) {
  if (!auth.methods.includes('password')) {
    const how = auth.methods.includes('token')
      ? 'Open the URL the server printed (it carries ?token=…).'
      : 'Sign in through your organisation\'s login page.';
    container.replaceChildren(el('p', { className: 'hint', textContent: `Not signed in. ${how}` }));
    return new Promise(() => {});
  }
  const user = el('input', { name: 'user', autocomplete: 'username', required: true });
  const password = el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const message = el('p', { className: 'hint', role: 'alert' });
  const form = el('form', { className: 'sign-in' },
    el('h2', { textContent: 'Sign in' }),
    el('label', {}, 'Name ', user), el('label', {}, 'Password ', password),
    el('button', { type: 'submit', textContent: 'Sign in' }), message);
  container.replaceChildren(form);
  user.focus();
  return new Promise((resolve) => {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const response = await post('/login', auth.xsrf, { user: user.value, password: password.value });
      if (response.ok) { resolve(); return; }
      const body = await response.json().catch(() => ({}));
      message.textContent = response.status === 429
        ? `Too many attempts: wait ${Math.ceil(body.retry_after)} s.`
        : 'Wrong name or password.';
      password.value = '';
    });
  });
}

/** @param {Auth} auth */
export function signOutButton(auth) {
  const button = el('button', { type: 'button', className: 'sign-out', textContent: `sign out ${auth.user}` });
  button.addEventListener('click', async () => {
    await post('/logout', auth.xsrf, {});
    location.reload();
  });
  return button;
}
