// The one way the console makes elements. Text goes in as text (textContent), never as markup:
// ids, namespaces and metadata can hold any string, `<script>` included, and are shown as typed.

/** h('button', {class: 'plain', onclick: f}, 'Label', child…): attributes are set as
 *  attributes or, for on* keys, as listeners; children are nodes or strings (made text nodes). */
export function h(tag, attrs = {}, ...children) {
  const el = tag === 'svg' || attrs.svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false || k === 'svg') continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An SVG element (charts). */
export const s = (tag, attrs = {}, ...children) => h(tag, { ...attrs, svg: true }, ...children);

/** Replaces el's children. */
export function put(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

/** A labelled control: the label wraps the input, so clicking and screen readers find it. */
export const field = (label, input) => h('label', {}, label, input);

/** An error for people: what failed, Cloudflare's code and message as they came back. */
export function errorBox(what, err) {
  const code = err && err.code ? ` (code ${err.code})` : '';
  return h('div', { class: 'error', role: 'alert' }, `${what}${code}: ${err && err.message ? err.message : String(err)}`);
}

/** JSON as readable text, for <pre>. */
export const pretty = (v) => JSON.stringify(v, null, 2);

/** A JSON value in one line, cut to n characters (the full text stays in the title). */
export function compact(v, n = 160) {
  const t = v === undefined ? '' : JSON.stringify(v);
  return t.length > n ? t.slice(0, n - 1) + '…' : t;
}

/** The page's heading, focused so keyboard and screen-reader users land on the new view. */
export function heading(main, text) {
  const h1 = h('h1', { tabindex: '-1' }, text);
  main.append(h1);
  h1.focus();
  return h1;
}

/** Runs f while button shows it is busy; errors land in out. */
export async function busy(button, out, what, f) {
  button.disabled = true;
  try { return await f(); } catch (e) { if (out) put(out, errorBox(what, e)); return undefined; } finally { button.disabled = false; }
}
