// The console's shell: sign-in state, the header, and a hash router (#/indexes, #/index/NAME,
// #/search, #/insert, #/health). Each view is a module exporting render(main, ...args).
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
  indexes: () => indexes.render(main),
  index: (name) => browse.render(main, name),
  search: (name) => search.render(main, name),
  insert: (name) => insert.render(main, name),
  health: () => health.render(main),
};

async function route() {
  if (leave) { leave(); leave = null; }
  document.getElementById('notice').replaceChildren();
  const [name, ...args] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (!(await signin.ready())) {
    nav.hidden = true;
    put(who);
    return signin.render(main, () => { location.hash = '#/indexes'; route(); });
  }
  nav.hidden = false;
  header();
  const view = views[name] || views.indexes;
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  put(main);
  leave = (await view(...args)) || null;
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
route();
