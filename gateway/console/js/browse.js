// One index: its figures, its metadata indexes, its vectors page by page (id, namespace,
// metadata, the head of the values), a vector's whole record with "more like this", and delete
// behind a typed confirmation.
import { h, put, field, errorBox, heading, busy, pretty, compact } from './dom.js';
import { api } from './api.js';
import { matchesTable } from './search.js';

const PAGE = 20;

export async function render(main, name) {
  heading(main, `Index ${name}`);
  const facts = h('dl', { class: 'kv', id: 'facts' });
  main.append(
    h('section', { class: 'card' }, facts,
      h('p', {}, h('a', { href: `#/search/${encodeURIComponent(name)}` }, 'Search this index'), ' · ', h('a', { href: `#/insert/${encodeURIComponent(name)}` }, 'Insert into it'))),
    metadataIndexes(name), vectors(name), danger(name));
  try {
    const [{ result: i }, { result: ix }] = await Promise.all([api.info(name), api.indexes().then((r) => ({ result: r.result.find((x) => x.name === name) }))]);
    put(facts,
      h('dt', {}, 'Dimensions'), h('dd', {}, String(i.dimensions)),
      h('dt', {}, 'Metric'), h('dd', {}, ix ? ix.config.metric : '?'),
      h('dt', {}, 'Vectors'), h('dd', { id: 'vector-count' }, String(i.vectorCount)),
      h('dt', {}, 'Last mutation'), h('dd', { class: 'mono' }, i.processedUpToMutation || 'none'));
  } catch (e) {
    put(facts, errorBox(`Could not read ${name}`, e));
  }
}

function metadataIndexes(name) {
  const list = h('div', { id: 'meta-list' });
  const out = h('div');
  const reload = async () => {
    try {
      const r = (await api.metaList(name)).result.metadataIndexes || [];
      put(list, r.length ? h('table', {}, h('tbody', {}, r.map((m) => h('tr', { 'data-property': m.propertyName },
        h('td', { class: 'mono' }, m.propertyName), h('td', {}, m.indexType),
        h('td', {}, h('button', { class: 'plain', 'aria-label': `Delete metadata index ${m.propertyName}`, onclick: (e) => busy(e.target, out, 'Could not delete the metadata index', async () => {
          await api.metaDelete(name, m.propertyName);
          put(out, h('p', { class: 'okmsg' }, `Deleted the metadata index on ${m.propertyName}.`));
          await reload();
        }) }, 'Delete')))))) : h('p', { class: 'muted', id: 'no-meta' }, 'No metadata index: filters on properties are checked against every match, unindexed.'));
    } catch (e) {
      put(list, errorBox('Could not list the metadata indexes', e));
    }
  };
  const prop = h('input', { id: 'meta-property', required: true, spellcheck: 'false' });
  const type = h('select', { id: 'meta-type' }, ['string', 'number', 'boolean'].map((t) => h('option', { value: t }, t)));
  const submit = h('button', { type: 'submit' }, 'Create metadata index');
  const form = h('form', { class: 'row', onsubmit: (e) => {
    e.preventDefault();
    busy(submit, out, 'Could not create the metadata index', async () => {
      await api.metaCreate(name, prop.value.trim(), type.value);
      put(out, h('p', { class: 'okmsg' }, `Created a ${type.value} index on ${prop.value.trim()}.`));
      prop.value = '';
      await reload();
    });
  } }, field('Property', prop), field('Type', type), submit);
  reload();
  return h('section', { class: 'card' }, h('h2', {}, 'Metadata indexes'), list, form, out);
}

function vectors(name) {
  const table = h('div', { id: 'vectors' });
  const detail = h('div', { id: 'vector-detail' });
  const pager = h('div', { class: 'row' });
  const cursors = [''];
  let page = 0;
  const show = async (focus) => {
    for (const b of pager.querySelectorAll('button')) b.disabled = true;
    try {
      const { result: l } = await api.list(name, PAGE, cursors[page]);
      cursors[page + 1] = l.isTruncated ? l.nextCursor : undefined;
      const ids = l.vectors.map((v) => v.id);
      const rows = ids.length ? (await api.byIds(name, ids)).result : [];
      const byId = new Map(rows.map((v) => [v.id, v]));
      put(table, ids.length ? h('table', { class: 'vectors' }, h('thead', {}, h('tr', {}, ['Id', 'Namespace', 'Metadata', 'Values'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ids.map((id) => {
          const v = byId.get(id) || { id };
          return h('tr', {},
            h('td', { class: 'clip' }, h('button', { class: 'link vector-open', title: id, onclick: () => open(name, v, detail) }, id)),
            h('td', { class: 'clip', title: v.namespace || '' }, v.namespace || ''),
            h('td', { class: 'clip mono', title: compact(v.metadata, 2000) }, compact(v.metadata)),
            h('td', { class: 'clip mono' }, head(v.values, 4)));
        }))) : h('p', { class: 'muted' }, 'No vectors.'));
      put(pager,
        h('span', { class: 'muted', id: 'page-info' }, `Page ${page + 1} · ${l.totalCount} vectors`),
        h('button', { class: 'plain', id: 'previous-page', disabled: page === 0, onclick: () => { page -= 1; show('previous-page'); } }, 'Previous'),
        h('button', { class: 'plain', id: 'next-page', disabled: !cursors[page + 1], onclick: () => { page += 1; show('next-page'); } }, 'Next'));
      // Keep a keyboard user where they were (the pager was rebuilt under them).
      const again = focus && document.getElementById(focus);
      if (again) (again.disabled ? pager.querySelector('button:not([disabled])') || again : again).focus();
    } catch (e) {
      put(table, errorBox('Could not list the vectors', e));
    }
  };
  show();
  return h('section', { class: 'card' }, h('h2', {}, 'Vectors'), table, pager, detail);
}

const head = (values, n) => (values ? `[${values.slice(0, n).map((x) => x.toFixed(4)).join(', ')}${values.length > n ? ', …' : ''}]` : '');

function open(name, v, out) {
  const similar = h('div', { id: 'similar' });
  const button = h('button', { id: 'more-like-this', onclick: () => busy(button, similar, 'Could not query by id', async () => {
    const r = await api.query(name, { vectorId: v.id, topK: 10, returnMetadata: 'all' });
    put(similar, h('p', { class: 'timings' }, `query ${r.ms ?? '?'} ms`), matchesTable(r.result.matches));
  }) }, 'More like this');
  put(out, h('section', { class: 'card' },
    h('h2', {}, 'Vector'),
    h('dl', { class: 'kv' }, h('dt', {}, 'Id'), h('dd', { class: 'mono', id: 'detail-id' }, v.id),
      h('dt', {}, 'Namespace'), h('dd', { class: 'mono' }, v.namespace ?? '(none)'),
      h('dt', {}, 'Values'), h('dd', { class: 'mono' }, `${head(v.values, 8)} (${v.values ? v.values.length : 0} dimensions)`)),
    h('h2', {}, 'Metadata'), h('pre', { id: 'detail-metadata' }, v.metadata === undefined ? '(none)' : pretty(v.metadata)),
    button, similar));
  button.focus();
}

function danger(name) {
  const out = h('div');
  const typed = h('input', { id: 'confirm-name', spellcheck: 'false', autocomplete: 'off' });
  const del = h('button', { class: 'danger', id: 'delete-index', type: 'submit', disabled: true }, 'Delete this index');
  typed.addEventListener('input', () => { del.disabled = typed.value !== name; });
  const form = h('form', { class: 'row', onsubmit: (e) => {
    e.preventDefault();
    if (typed.value !== name) return;
    busy(del, out, 'Could not delete the index', async () => {
      await api.drop(name);
      location.hash = '#/indexes';
    });
  } }, field(`Type ${name} to delete it and every vector in it`, typed), del);
  return h('section', { class: 'card' }, h('h2', {}, 'Delete'), form, out);
}
