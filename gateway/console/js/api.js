// The public REST API, as any client calls it: the token as a Bearer header (kept in this tab's
// session storage, never in a URL or a cookie), JSON bodies, Cloudflare's envelope unwrapped.
// Each answer carries the gateway's own time (its Server-Timing header), shown per step.

const TOKEN = 'strato.console.token';
const ACCOUNT = 'strato.console.account';

export const session = {
  get token() { return sessionStorage.getItem(TOKEN) || ''; },
  set token(t) { t ? sessionStorage.setItem(TOKEN, t) : sessionStorage.removeItem(TOKEN); },
  get account() { return sessionStorage.getItem(ACCOUNT) || ''; },
  set account(a) { a ? sessionStorage.setItem(ACCOUNT, a) : sessionStorage.removeItem(ACCOUNT); },
};

/** A failed call: Cloudflare's code and message when the answer had the envelope. */
export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** fetch + envelope: resolves to {result, info, ms, messages}; throws ApiError. */
export async function call(method, path, { body, type = 'application/json', token = session.token } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  // Every write says its Content-Type, a bodiless DELETE too: without a token the gateway takes
  // no write that a web form could have sent (routes/edge.rs).
  if (body !== undefined || method !== 'GET') headers['Content-Type'] = type;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)), credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 0, `the gateway did not answer (${e.message})`);
  }
  const ms = timing(res);
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: said below */ }
  if (!res.ok || (json && json.success === false)) {
    const e = json && Array.isArray(json.errors) && json.errors[0];
    const oa = json && json.error; // OpenAI's shape
    if (e) throw new ApiError(res.status, e.code, e.message);
    if (oa && oa.message) throw new ApiError(res.status, oa.code || res.status, oa.message);
    throw new ApiError(res.status, res.status, text.slice(0, 300) || res.statusText);
  }
  if (json && 'success' in json && 'result' in json) return { result: json.result, info: json.result_info, messages: json.messages || [], ms };
  return { result: json, ms, messages: [] };
}

function timing(res) {
  const m = /gateway;dur=([0-9.]+)/.exec(res.headers.get('server-timing') || '');
  return m ? Number(m[1]) : null;
}

const enc = encodeURIComponent;
export const acct = () => `/client/v4/accounts/${enc(session.account)}`;
export const ix = (name) => `${acct()}/vectorize/v2/indexes/${enc(name)}`;

export const api = {
  accounts: (token) => call('GET', '/client/v4/accounts', { token }),
  indexes: () => call('GET', `${acct()}/vectorize/v2/indexes`),
  info: (name) => call('GET', `${ix(name)}/info`),
  create: (body) => call('POST', `${acct()}/vectorize/v2/indexes`, { body }),
  drop: (name) => call('DELETE', ix(name)),
  metaList: (name) => call('GET', `${ix(name)}/metadata_index/list`),
  metaCreate: (name, propertyName, indexType) => call('POST', `${ix(name)}/metadata_index/create`, { body: { propertyName, indexType } }),
  metaDelete: (name, propertyName) => call('POST', `${ix(name)}/metadata_index/delete`, { body: { propertyName } }),
  list: (name, count, cursor) => call('GET', `${ix(name)}/list?count=${count}${cursor ? `&cursor=${enc(cursor)}` : ''}`),
  byIds: (name, ids) => call('POST', `${ix(name)}/get_by_ids`, { body: { ids } }),
  query: (name, body) => call('POST', `${ix(name)}/query`, { body }),
  upsert: (name, ndjson) => call('POST', `${ix(name)}/upsert`, { body: ndjson, type: 'application/x-ndjson' }),
  models: () => call('GET', `${acct()}/ai/models/search`),
  embed: (model, text) => call('POST', `${acct()}/ai/run/${model.split('/').map(enc).join('/')}`, { body: { text } }),
  status: () => call('GET', '/__strato/status'),
  summary: () => call('GET', '/__strato/summary'),
};
