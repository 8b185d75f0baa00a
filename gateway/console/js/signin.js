// Sign-in: a pasted API token, checked by listing the accounts it may use (Cloudflare's
// GET /accounts). A gateway with no tokens (open mode, loopback only) needs none.
import { h, put, field, errorBox, heading } from './dom.js';
import { api, session } from './api.js';

let known = null; // {accounts, any, open}

export const accounts = () => (known ? known.accounts : []);
export const mode = () => (!known ? '' : known.open ? 'Open mode (loopback, no token)' : known.any ? 'Token for any account' : 'Token for these accounts');
export const forget = () => { known = null; };

/** Whether the console may show data: a stored token that still works, or an open gateway. */
export async function ready() {
  if (known) return true;
  try {
    const r = await api.accounts(session.token);
    accept(r, !session.token);
    return true;
  } catch {
    return false;
  }
}

function accept(r, open) {
  const list = (r.result || []).map((a) => a.id);
  known = { accounts: list, any: !!(r.info && r.info.any_account), open };
  if (!session.account || (!known.any && !list.includes(session.account))) session.account = list[0] || '';
}

export function render(main, done) {
  put(main);
  heading(main, 'Sign in');
  const token = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, size: 48 });
  const out = h('div', { id: 'signin-out' });
  const form = h('form', { class: 'row', onsubmit: async (e) => {
    e.preventDefault();
    const t = token.value.trim();
    try {
      const r = await api.accounts(t);
      session.token = t;
      accept(r, false);
      done();
    } catch (err) {
      put(out, errorBox(err.status === 401 || err.status === 403 ? 'That token was refused' : 'Could not sign in', err));
    }
  } }, field('API token', token), h('button', { type: 'submit' }, 'Sign in'));
  main.append(
    h('section', { class: 'card' },
      h('p', {}, 'Paste an API token of this gateway (its --api-token or --api-tokens-file). It is kept in this tab only (session storage) and sent as a Bearer header.'),
      form, out));
  token.focus();
}
