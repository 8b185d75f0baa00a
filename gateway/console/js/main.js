// The console's shell: sign-in state, the header, and a hash router (#/indexes, #/index/NAME,
// #/search, #/insert, #/health). Each view is a module exporting render(page, ...args), which
// may return a cleanup (the Health page's timer).
import { h, put } from './dom.js';
import { session } from './api.js';
import * as signin from './signin.js';
import * as indexes from './indexes.js';
import * as browse from './browse.js';
import * as search from './search.js';
import * as insert from './insert.js';
import * as health from './health.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let leave = null; // the current view's cleanup (timers)

const views = {
  indexes: (page) => indexes.render(page),
  index: (page, name) => browse.render(page, name),
  search: (page, name) => search.render(page, name),
  insert: (page, name) => insert.render(page, name),
  health: (page) => health.render(page),
};

let generation = 0; // bumped by each navigation: a view that finishes late is dropped

async function route() {
  const mine = ++generation;
  if (leave) { leave(); leave = null; }
  document.getElementById('notice').replaceChildren();
  const [name, ...args] = location.hash.replace(/^#\/?/, '').split('/').map(decode);
  // Each view draws into its own container: one that is still loading when the user moves on
  // draws into a detached element, never under the next page.
  const page = h('div');
  put(main, page);
  if (!(await signin.ready())) {
    if (mine !== generation) return;
    nav.hidden = true;
    put(who);
    return signin.render(page, () => { location.hash = '#/indexes'; route(); });
  }
  if (mine !== generation) return;
  nav.hidden = false;
  header();
  const known = Object.hasOwn(views, name);
  const current = known ? (name === 'index' ? 'indexes' : name) : 'indexes';
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${current}`) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const cleanup = (await (known ? views[name] : views.indexes)(page, ...args)) || null;
  if (mine !== generation) { if (cleanup) cleanup(); return; }
  leave = cleanup;

  function decode(part) {
    try { return decodeURIComponent(part); } catch { return part; }
  }
}

function header() {
  const accounts = signin.accounts();
  const input = h('input', { id: 'account', 'aria-label': 'Account', list: 'accounts', value: session.account, spellcheck: 'false' });
  input.addEventListener('change', () => { session.account = input.value.trim(); route(); });
  put(who,
    h('span', {}, signin.mode()),
    input,
    h('datalist', { id: 'accounts' }, accounts.map((a) => h('option', { value: a }))),
    session.token ? h('button', { class: 'plain', onclick: () => { session.token = ''; session.account = ''; signin.forget(); route(); } }, 'Sign out') : null);
}

window.addEventListener('hashchange', route);
// "Skip to content" moves focus; it must not change the hash (which would route).
document.querySelector('a.skip').addEventListener('click', (e) => { e.preventDefault(); main.focus(); });
route();
