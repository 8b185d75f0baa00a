// Search: a sentence embedded by a model of the embedder's catalogue (loaded ones first; a model
// that is only known says so), then a query with topK, namespace, a JSON filter (checked here
// before it is sent; the API's own error shown as it comes back) and the metadata level.
import { h, put, field, errorBox, heading, busy, compact } from './dom.js';
import { api } from './api.js';

/** The index picker shared by Search and Insert. */
export async function indexPicker(selected) {
  const sel = h('select', { id: 'index', required: true });
  try {
    const list = (await api.indexes()).result || [];
    put(sel, list.map((ix) => h('option', { value: ix.name, selected: ix.name === selected }, `${ix.name} (${ix.config.dimensions})`)));
    return { sel, error: list.length ? null : h('p', { class: 'error' }, 'No index in this account: create one first.') };
  } catch (e) {
    return { sel, error: errorBox('Could not list the indexes', e) };
  }
}

/** The model picker: the catalogue with what is loaded and what is only known. */
export async function modelPicker() {
  const sel = h('select', { id: 'model' });
  const note = h('p', { class: 'muted', id: 'model-note' });
  try {
    const models = (await api.models()).result || [];
    models.sort((a, b) => Number(b.loaded) - Number(a.loaded));
    put(sel, models.map((m) => h('option', { value: m.name }, `${m.name} (${m.dimensions}) — ${m.loaded ? 'loaded' : 'not loaded: known only'}`)));
    const say = () => {
      const m = models.find((x) => x.name === sel.value);
      put(note, !m ? '' : m.loaded ? `${m.name}: loaded, ${m.dimensions} dimensions, up to ${m.max_input_tokens} tokens.` : `${m.name} is in the catalogue but not loaded on this embedder (${m.source_detail}); embedding with it will fail.`);
    };
    sel.addEventListener('change', say);
    say();
  } catch (e) {
    put(note, errorBox('Could not read the model catalogue', e));
  }
  return { sel, note };
}

export async function render(main, name) {
  heading(main, 'Search');
  const [{ sel: index, error }, { sel: model, note }] = await Promise.all([indexPicker(name), modelPicker()]);
  const text = h('input', { id: 'query-text', required: true, size: 60, placeholder: 'A sentence' });
  const topK = h('input', { id: 'topk', type: 'number', min: 1, max: 100, value: 5 });
  const ns = h('input', { id: 'namespace', spellcheck: 'false' });
  const level = h('select', { id: 'metadata-level' }, ['all', 'indexed', 'none'].map((l) => h('option', { value: l }, l)));
  const filter = h('textarea', { id: 'filter', spellcheck: 'false', rows: 3, placeholder: '{"genre": {"$eq": "drama"}}' });
  const filterNote = h('div', { id: 'filter-note' });
  const out = h('div', { id: 'results' });
  const submit = h('button', { type: 'submit' }, 'Search');
  filter.addEventListener('input', () => { const r = parseFilter(filter.value); put(filterNote, r.error ? h('p', { class: 'error' }, r.error) : ''); });
  const form = h('form', { onsubmit: (e) => {
    e.preventDefault();
    const f = parseFilter(filter.value);
    if (f.error) { put(out); put(filterNote, h('p', { class: 'error' }, f.error)); filter.focus(); return; }
    busy(submit, out, 'The search failed', async () => {
      put(out, h('p', { class: 'muted' }, 'Embedding…'));
      let emb;
      try { emb = await api.embed(model.value, [text.value]); } catch (err) { return put(out, errorBox(`Could not embed with ${model.value}`, err)); }
      const body = { vector: emb.result.data[0], topK: Number(topK.value), returnMetadata: level.value, returnValues: false };
      if (ns.value) body.namespace = ns.value;
      if (f.value) body.filter = f.value;
      let q;
      try { q = await api.query(index.value, body); } catch (err) { return put(out, errorBox('The query was refused', err)); }
      put(out,
        h('p', { class: 'timings', id: 'timings' }, `embed ${emb.ms ?? '?'} ms · query ${q.ms ?? '?'} ms · ${q.result.count} matches`),
        q.messages.map((m) => h('p', { class: 'muted' }, m.message)),
        matchesTable(q.result.matches));
    });
  } },
  h('div', { class: 'row' }, field('Index', index), field('Model', model), field('topK', topK), field('Namespace', ns), field('Metadata', level)),
  note, field('Sentence', text), field('Filter (JSON, optional)', filter), filterNote, submit);
  main.append(h('section', { class: 'card' }, error, form), out);
}

/** The filter box's text → {value} or {error}: JSON, and an object (Vectorize's filter shape). */
export function parseFilter(text) {
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: 'The filter must be a JSON object, e.g. {"genre": "drama"}.' };
    return { value: v };
  } catch (e) {
    return { error: `The filter is not valid JSON: ${e.message}` };
  }
}

/** Query matches: id, score, namespace, metadata as text. */
export function matchesTable(matches) {
  if (!matches.length) return h('p', { class: 'muted', id: 'no-matches' }, 'No matches.');
  return h('table', { class: 'matches' },
    h('thead', {}, h('tr', {}, ['Id', 'Score', 'Namespace', 'Metadata'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, matches.map((m) => h('tr', {},
      h('td', { class: 'clip match-id', title: m.id }, m.id), h('td', { class: 'mono' }, m.score.toFixed(4)),
      h('td', { class: 'clip' }, m.namespace || ''), h('td', { class: 'clip mono', title: compact(m.metadata, 2000) }, compact(m.metadata))))));
}
