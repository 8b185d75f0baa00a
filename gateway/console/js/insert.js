// Insert: texts embedded and upserted (id = prefix + line number, the text kept as metadata), or
// an NDJSON file of vectors (wrangler's format) sent in slices of lines with a progress bar.
// Every batch is one upsert; the mutation id of the last one is shown at the end.
import { h, put, field, errorBox, heading, busy } from './dom.js';
import { api } from './api.js';
import { indexPicker, modelPicker } from './search.js';

const TEXTS_PER_EMBED = 100; // Workers AI's limit per call
const SLICE_BYTES = 4 << 20; // one upsert's worth of an NDJSON file…
const SLICE_LINES = 1000; // …and never more vectors than one call takes (5,000)

export async function render(main, name) {
  heading(main, 'Insert');
  const [{ sel: index, error }, { sel: model, note }] = await Promise.all([indexPicker(name), modelPicker()]);
  main.append(h('section', { class: 'card' }, error, h('div', { class: 'row' }, field('Index', index))), texts(index, model, note), file(index));
}

function texts(index, model, note) {
  const area = h('textarea', { id: 'texts', rows: 6, required: true, placeholder: 'One text per line' });
  const prefix = h('input', { id: 'id-prefix', value: 'doc-', spellcheck: 'false' });
  const ns = h('input', { id: 'insert-namespace', spellcheck: 'false' });
  const bar = h('progress', { id: 'texts-progress', max: 1, value: 0, hidden: true });
  const out = h('div', { id: 'texts-out' });
  const submit = h('button', { type: 'submit' }, 'Embed and upsert');
  const form = h('form', { onsubmit: (e) => {
    e.preventDefault();
    const lines = area.value.split('\n').map((l) => l.trim()).filter(Boolean);
    if (!lines.length) return put(out, h('p', { class: 'error' }, 'Nothing to insert: type at least one line.'));
    busy(submit, out, 'The insert stopped', async () => {
      bar.hidden = false; bar.max = lines.length; bar.value = 0; put(out);
      let last;
      for (let at = 0; at < lines.length; at += TEXTS_PER_EMBED) {
        const batch = lines.slice(at, at + TEXTS_PER_EMBED);
        const emb = await api.embed(model.value, batch);
        const nd = batch.map((text, i) => JSON.stringify({ id: `${prefix.value}${at + i + 1}`, values: emb.result.data[i], metadata: { text }, ...(ns.value ? { namespace: ns.value } : {}) })).join('\n');
        last = await api.upsert(index.value, nd);
        bar.value = at + batch.length;
      }
      put(out, h('p', { class: 'okmsg', id: 'texts-done' }, `Upserted ${lines.length} vectors; mutation ${last.result.mutationId}.`));
    });
  } }, note, field('Texts', area), h('div', { class: 'row' }, field('Model', model), field('Id prefix', prefix), field('Namespace', ns), submit), bar, out);
  return h('section', { class: 'card' }, h('h2', {}, 'Texts'), form);
}

function file(index) {
  const input = h('input', { id: 'ndjson-file', type: 'file', accept: '.ndjson,.jsonl,application/x-ndjson' });
  const bar = h('progress', { id: 'file-progress', max: 1, value: 0, hidden: true });
  const out = h('div', { id: 'file-out' });
  const submit = h('button', { type: 'submit' }, 'Upload');
  const form = h('form', { class: 'row', onsubmit: (e) => {
    e.preventDefault();
    const f = input.files && input.files[0];
    if (!f) return put(out, h('p', { class: 'error' }, 'Choose an NDJSON file first.'));
    busy(submit, out, 'The upload stopped', async () => {
      bar.hidden = false; bar.max = f.size || 1; bar.value = 0; put(out);
      let sent = 0, lines = 0, last;
      for await (const slice of slices(f)) {
        try { last = await api.upsert(index.value, slice.text); } catch (err) {
          err.message = `${err.message} (in lines ${slice.first}–${slice.last} of the file; the ${lines} vectors before line ${slice.first} were written)`;
          throw err;
        }
        sent += slice.bytes; lines += slice.lines; bar.value = Math.min(sent, bar.max);
      }
      put(out, h('p', { class: 'okmsg', id: 'file-done' }, last ? `Upserted ${lines} lines of ${f.name}; mutation ${last.result.mutationId}.` : `${f.name} has no vectors.`));
    });
  } }, field('NDJSON file of vectors ({"id","values","metadata"?,"namespace"?} a line)', input), submit, bar, out);
  return h('section', { class: 'card' }, h('h2', {}, 'NDJSON file'), form);
}

/** The file as runs of whole lines, read as it streams (never whole): each run at most
 *  SLICE_LINES lines (under the API's 5,000 vectors a call) and about SLICE_BYTES bytes.
 *  `first` and `last` number the file's lines, blank ones included, for error messages. */
async function* slices(f) {
  const reader = f.stream().pipeThrough(new TextDecoderStream()).getReader();
  const enc = new TextEncoder();
  let carry = '';
  let batch = [], bytes = 0, lineNo = 0, first = 1;
  const take = () => {
    const run = { text: batch.join('\n'), lines: batch.filter((l) => l.trim()).length, bytes, first, last: lineNo };
    batch = []; bytes = 0; first = lineNo + 1;
    return run;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (value) carry += value;
    const lines = carry.split('\n');
    carry = done ? '' : lines.pop();
    for (const line of lines) {
      lineNo += 1;
      batch.push(line);
      bytes += enc.encode(line).length + 1;
      if (batch.length >= SLICE_LINES || bytes >= SLICE_BYTES) { const run = take(); if (run.lines) yield run; }
    }
    if (done) { if (batch.length) { const run = take(); if (run.lines) yield run; } return; }
  }
}
