// Who is signed in, the sign-in form when nobody is, and signing out.
// POSTs carry the XSRF token the server hands out in /api/auth.

import { el } from './dom.js';

/**
 * GET /api/auth: who is signed in and how one signs in here (frontend_server/login.py).
 * @typedef {object} Auth
 * @property {string | null} user
 * @property {string[]} groups
 * @property {string[]} methods 'password' (users file), 'ldap', 'oidc', 'token', 'proxy'
 * @property {string} oidc_name the OpenID Connect provider's name, for its button
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
 * Shows the ways to sign in that this server offers: a link to the identity
 * provider (OpenID Connect) and/or a name and password form (users file or LDAP);
 * resolves when signed in with the form (the provider's way leaves the page).
 * @param {HTMLElement} container
 * @param {Auth} auth
 * @returns {Promise<void>}
 */
export function signInForm(container, auth) {
  const passwords = auth.methods.includes('password') || auth.methods.includes('ldap');
  const provider = auth.methods.includes('oidc')
    ? el('a', { className: 'sign-in-provider', href: '/oidc/login', textContent: `Sign in with ${auth.oidc_name}` })
    : null;
  if (!passwords) {
    const how = auth.methods.includes('token')
      ? 'Open the URL the server printed (it carries ?token=…).'
      : 'Sign in through your organisation\'s login page.';
    const hint = el('p', { className: 'hint', textContent: provider ? 'Not signed in.' : `Not signed in. ${how}` });
    container.replaceChildren(el('div', { className: 'sign-in' }, el('h2', { textContent: 'Sign in' }), hint, provider));
    return new Promise(() => {});
  }
  const user = el('input', { name: 'user', autocomplete: 'username', required: true });
  const password = el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const message = el('p', { className: 'hint', role: 'alert' });
  const form = el('form', { className: 'sign-in' },
    el('h2', { textContent: 'Sign in' }), provider,
    provider ? el('p', { className: 'hint', textContent: 'or with a name and password:' }) : null,
    el('label', {}, 'Name ', user), el('label', {}, 'Password ', password),
    el('button', { type: 'submit', textContent: 'Sign in' }), message);
  container.replaceChildren(form);
  if (!provider) user.focus();
  return new Promise((resolve) => {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const response = await post('/login', auth.xsrf, { user: user.value, password: password.value });
      if (response.ok) { resolve(); return; }
      const body = await response.json().catch(() => ({}));
      message.textContent = response.status === 429
        ? `Too many attempts: wait ${Math.ceil(body.retry_after)} s.`
        : response.status === 503
          ? 'Sign-in is unavailable: the directory cannot be reached. Try again later.'
          : 'Wrong name or password.';
      password.value = '';
    });
  });
}

/**
 * Signing out ends the sign-in on every front end; a sign-in through the identity
 * provider then goes on to end there too (the server answers where).
 * @param {Auth} auth
 */
export function signOutButton(auth) {
  const button = el('button', { type: 'button', className: 'sign-out', textContent: `sign out ${auth.user}` });
  button.addEventListener('click', async () => {
    const response = await post('/logout', auth.xsrf, {});
    const body = await response.json().catch(() => ({}));
    if (typeof body.redirect === 'string' && body.redirect) location.assign(body.redirect);
    else location.reload();
  });
  return button;
}
