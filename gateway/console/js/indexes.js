// Indexes: the account's list (name, dimensions, metric, vector count, last mutation) and the
// create form, with Cloudflare's presets.
import { h, put, field, errorBox, heading, busy } from './dom.js';
import { api, session } from './api.js';

export const PRESETS = [
  ['@cf/baai/bge-small-en-v1.5', 384], ['@cf/baai/bge-base-en-v1.5', 768], ['@cf/baai/bge-large-en-v1.5', 1024],
  ['openai/text-embedding-ada-002', 1536], ['cohere/embed-multilingual-v2.0', 768],
];

export async function render(main) {
  heading(main, `Indexes of ${session.account}`);
  const table = h('div', { id: 'index-list' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('section', { class: 'card' }, table), createForm(() => load(table)));
  await load(table);
}

async function load(out) {
  let list;
  try {
    list = (await api.indexes()).result || [];
  } catch (e) {
    return put(out, errorBox('Could not list the indexes', e));
  }
  if (!list.length) return put(out, h('p', { class: 'muted', id: 'no-indexes' }, 'No index yet: create one below.'));
  const rows = list.map((ix) => {
    const count = h('td', { class: 'count' }, '…');
    const last = h('td', { class: 'clip' }, '…');
    api.info(ix.name).then(
      ({ result: i }) => { put(count, String(i.vectorCount)); put(last, i.processedUpToDatetime ? new Date(i.processedUpToDatetime).toLocaleString() : 'none'); last.title = i.processedUpToMutation || ''; },
      (e) => { put(count, '?'); put(last, errorBox('info', e)); });
    return h('tr', { 'data-index': ix.name },
      h('td', {}, h('a', { href: `#/index/${encodeURIComponent(ix.name)}` }, ix.name), ix.description ? h('div', { class: 'muted' }, ix.description) : null),
      h('td', {}, String(ix.config.dimensions)), h('td', {}, ix.config.metric), count, last);
  });
  put(out, h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Dimensions', 'Metric', 'Vectors', 'Last mutation'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)));
}

function createForm(reload) {
  const name = h('input', { id: 'new-name', required: true, pattern: '[a-z0-9][a-z0-9\\-]*', maxlength: 64, spellcheck: 'false' });
  const preset = h('select', { id: 'new-preset' },
    PRESETS.map(([p, d]) => h('option', { value: p }, `${p} (${d}, cosine)`)), h('option', { value: '' }, 'Custom dimensions and metric'));
  const dims = h('input', { id: 'new-dims', type: 'number', min: 32, max: 1536, value: 384, disabled: true });
  const metric = h('select', { id: 'new-metric', disabled: true }, ['cosine', 'euclidean', 'dot-product'].map((m) => h('option', { value: m }, m)));
  const desc = h('input', { id: 'new-description', maxlength: 120 });
  preset.addEventListener('change', () => { dims.disabled = metric.disabled = !!preset.value; });
  const out = h('div', { id: 'create-out' });
  const submit = h('button', { type: 'submit' }, 'Create index');
  const form = h('form', { class: 'row', onsubmit: (e) => {
    e.preventDefault();
    const config = preset.value ? { preset: preset.value } : { dimensions: Number(dims.value), metric: metric.value };
    busy(submit, out, 'Could not create the index', async () => {
      await api.create({ name: name.value.trim(), description: desc.value || undefined, config });
      put(out, h('p', { class: 'okmsg' }, `Created ${name.value.trim()}.`));
      name.value = '';
      await reload();
    });
  } }, field('Name', name), field('Preset', preset), field('Dimensions', dims), field('Metric', metric), field('Description', desc), submit);
  return h('section', { class: 'card' }, h('h2', {}, 'Create an index'), form, out);
}
