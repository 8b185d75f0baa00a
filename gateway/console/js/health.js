// Health: each service's state and the model the AI binding serves (/__strato/status), and the
// gateway's requests per second and p50/p99 latency over the last minutes (/__strato/summary,
// derived from its own latency histogram), redrawn every few seconds as plain SVG.
import { h, s, put, errorBox, heading } from './dom.js';
import { api } from './api.js';

const EVERY_MS = 3000;

export async function render(main) {
  heading(main, 'Health');
  const services = h('div', { id: 'services' }, h('p', { class: 'muted' }, 'Asking…'));
  const rps = h('div', { id: 'chart-rps' });
  const lat = h('div', { id: 'chart-latency' });
  const now = h('p', { class: 'timings', id: 'now' }); // not live: rewritten every few seconds
  main.append(
    h('section', { class: 'card' }, h('h2', {}, 'Services'), services),
    h('section', { class: 'card' }, h('h2', {}, 'Gateway traffic'), now, h('div', { class: 'charts' }, rps, lat)));
  const tick = async () => {
    await Promise.all([status(services), traffic(rps, lat, now)]);
  };
  await tick();
  const timer = setInterval(tick, EVERY_MS);
  return () => clearInterval(timer);
}

async function status(out) {
  let st;
  try { st = (await api.status()).result; } catch (e) { return put(out, errorBox('Could not read the status', e)); }
  const ai = st.ai || {};
  if (!st.services) {
    return put(out, h('p', { class: 'error', id: 'limited' }, "This token is limited to some accounts: the services' health and the gateway's traffic are shown to tokens for every account."),
      h('p', {}, `AI binding: ${ai.serving || ai.requested || 'unknown'}`));
  }
  const rows = (st.services || []).map((x) => h('tr', { 'data-service': x.service },
    h('td', {}, x.service), h('td', { class: 'mono' }, x.target || ''),
    h('td', {}, h('span', { class: `pill ${x.serving ? 'good' : 'bad'}` }, x.serving ? 'serving' : 'down'), ' ', x.serving ? '' : x.state)));
  put(out,
    h('table', {}, h('thead', {}, h('tr', {}, ['Service', 'Pod', 'State'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)),
    h('dl', { class: 'kv', id: 'ai-model' },
      h('dt', {}, 'AI binding'), h('dd', {}, ai.serving ? `${ai.serving} (${ai.dimensions} dimensions)` : `not serving: ${ai.error || 'unknown'}`),
      ai.fallback ? [h('dt', {}, 'Fallback'), h('dd', {}, `asked for ${ai.requested}: ${ai.reason || ''}`)] : null));
}

async function traffic(rpsOut, latOut, now) {
  let sum;
  try { sum = (await api.summary()).result; } catch (e) { put(rpsOut); put(latOut); return put(now, errorBox('Could not read the traffic summary', e)); }
  const pts = sum.points || [];
  // The line above the charts: the rate over the last half minute, the latest latencies seen.
  const recent = pts.slice(-15);
  const rate = recent.reduce((a, p) => a + p.rps, 0) / Math.max(1, recent.length);
  const seen = [...pts].reverse().find((p) => p.p50_ms !== null);
  put(now, pts.length ? `last ${recent.length * sum.step_seconds} s: ${rate.toFixed(2)} requests/s · latest p50 ${seen ? seen.p50_ms : '–'} ms · p99 ${seen ? seen.p99_ms : '–'} ms` : 'Collecting: the first figures come within a few seconds.');
  put(rpsOut, chart('Requests per second', pts, [['rps', 'k1']], ''));
  put(latOut, chart('Latency (ms)', pts, [['p50_ms', 'k1'], ['p99_ms', 'k2']], ' ms'));
}

/** A line chart of the given keys over the points' times: axes, a max label, one polyline each. */
function chart(title, pts, keys, unit) {
  const W = 300, H = 130, L = 34, B = 16;
  const vals = pts.flatMap((p) => keys.map(([k]) => p[k]).filter((v) => v !== null && v !== undefined));
  const max = Math.max(1e-9, ...vals) * 1.1;
  const t0 = pts.length ? pts[0].t : 0, t1 = pts.length ? pts[pts.length - 1].t : 1;
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - 4);
  const y = (v) => H - B - (v / max) * (H - B - 6);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}, ${pts.length} points`, 'data-points': pts.length, preserveAspectRatio: 'none' },
    s('line', { class: 'grid', x1: L, y1: y(0), x2: W, y2: y(0) }), s('line', { class: 'grid', x1: L, y1: y(max / 1.1), x2: W, y2: y(max / 1.1) }),
    s('text', { x: 2, y: y(max / 1.1) + 3 }, fmt(max / 1.1) + unit), s('text', { x: 2, y: y(0) + 3 }, '0'),
    s('text', { x: L, y: H - 3 }, pts.length ? `${Math.round((t1 - t0) / 1000)} s` : 'no data yet'),
    keys.map(([k, cls]) => s('polyline', { class: cls, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5,
      points: pts.filter((p) => p[k] !== null && p[k] !== undefined).map((p) => `${x(p.t).toFixed(1)},${y(p[k]).toFixed(1)}`).join(' ') })));
  return h('figure', {}, h('figcaption', {}, title, ' ', h('span', { class: 'legend' }, keys.length > 1 ? keys.map(([k, cls]) => h('span', { class: cls }, k.replace('_ms', ''))) : null)), svg);
}

const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
