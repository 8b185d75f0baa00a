#!/usr/bin/env node
// Writes a workerd config (capnp) that serves a Worker whose Vectorize and AI bindings are backed
// by Strato's binding routes instead of Cloudflare:
//   env.<VECTORIZE>  wrapped "cloudflare-internal:vectorize-api" (indexVersion v2, NDJSON writes)
//                    fetcher -> forwarder -> STRATO/__strato/binding/vectorize/<index_name>/<op>
//   env.<AI>         wrapped "cloudflare-internal:ai-api"
//                    fetcher -> forwarder -> STRATO/__strato/binding/ai/run?version=3
// The bindings are the same modules workerd (and miniflare) use for the real thing; only the
// fetcher differs. A forwarder worker per binding is needed because an `external` service keeps
// the request's path (and Host) and the bindings use dummy hosts (http://vector-search/,
// https://workers-binding.ai/).
//
// Usage: node gen-config.mjs [--wrangler wrangler.toml] [--strato http://127.0.0.1:8787]
//                            [--port 8788] [--listen 127.0.0.1] [--out config.capnp]
// Environment: STRATO_URL, WORKER_PORT, STRATO_API_TOKEN (optional: sent as a bearer token).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
}
const wranglerPath = resolve(opt("wrangler", "wrangler.toml"));
const stratoUrl = new URL(opt("strato", process.env.STRATO_URL ?? "http://127.0.0.1:8787"));
const port = Number(opt("port", process.env.WORKER_PORT ?? "8788"));
const listen = opt("listen", "127.0.0.1");
const out = resolve(opt("out", resolve(dirname(wranglerPath), "config.capnp")));
const token = process.env.STRATO_API_TOKEN ?? "";

// --- the few wrangler.toml keys we need (a deliberately small TOML reader) ----------------------
function parseWrangler(text) {
  const top = {}, vectorize = [];
  let ai = null, section = top;
  for (let line of text.split("\n")) {
    line = line.replace(/\s+#.*$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    let m;
    if ((m = line.match(/^\[\[\s*([\w.-]+)\s*\]\]$/))) {
      section = {};
      if (m[1] === "vectorize") vectorize.push(section);
      continue;
    }
    if ((m = line.match(/^\[\s*([\w.-]+)\s*\]$/))) {
      section = {};
      if (m[1] === "ai") ai = section;
      continue;
    }
    if ((m = line.match(/^([\w-]+)\s*=\s*(.+)$/))) {
      let v = m[2].trim();
      if (/^".*"$/.test(v) || /^'.*'$/.test(v)) v = v.slice(1, -1);
      else if (v === "true" || v === "false") v = v === "true";
      section[m[1]] = v;
    }
  }
  return { top, vectorize, ai };
}
const wr = parseWrangler(readFileSync(wranglerPath, "utf8"));
if (!wr.top.main) throw new Error(`${wranglerPath}: no "main"`);
const mainModule = relative(dirname(out), resolve(dirname(wranglerPath), wr.top.main));
const compatDate = wr.top.compatibility_date ?? "2026-01-01";

// --- capnp helpers -------------------------------------------------------------------------------
const str = (s) => JSON.stringify(String(s)); // ASCII-only inputs: JSON escapes are capnp escapes
for (const s of [wr.top.main, ...wr.vectorize.map((v) => v.index_name + v.binding)]) {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new Error(`non-ASCII name: ${s}`);
}

const FORWARDER = `// Forwards a binding's request to Strato under a path prefix.
export default {
  async fetch(request, env) {
    const u = new URL(request.url);
    const target = env.STRATO_ORIGIN + env.PREFIX + u.pathname + u.search;
    const headers = new Headers(request.headers);
    if (env.STRATO_API_TOKEN && !headers.has("authorization")) {
      headers.set("authorization", "Bearer " + env.STRATO_API_TOKEN);
    }
    return env.STRATO.fetch(new Request(target, { method: request.method, headers, body: request.body }));
  },
};
`;

const origin = stratoUrl.origin; // scheme://host:port
const basePath = stratoUrl.pathname.replace(/\/+$/, ""); // a Strato mounted under a path prefix
const services = [];
const bindings = [];

function forwarder(name, prefix) {
  services.push(`    ( name = ${str(name)},
      worker = (
        compatibilityDate = ${str(compatDate)},
        modules = [ ( name = "forward.js", esModule = ${str(FORWARDER)} ) ],
        bindings = [
          ( name = "STRATO", service = "strato" ),
          ( name = "STRATO_ORIGIN", text = ${str(origin)} ),
          ( name = "PREFIX", text = ${str(basePath + prefix)} ),
          ( name = "STRATO_API_TOKEN", text = ${str(token)} ),
        ],
      )
    ),`);
}

for (const v of wr.vectorize) {
  if (!v.binding || !v.index_name) throw new Error("[[vectorize]] needs binding and index_name");
  const svc = `vectorize-${v.binding}`;
  forwarder(svc, `/__strato/binding/vectorize/${encodeURIComponent(v.index_name)}`);
  bindings.push(`          ( name = ${str(v.binding)},
            wrapped = (
              moduleName = "cloudflare-internal:vectorize-api",
              innerBindings = [
                ( name = "fetcher", service = ${str(svc)} ),
                ( name = "indexId", text = ${str(v.index_name)} ),
                ( name = "indexVersion", text = "v2" ),
                ( name = "useNdJson", json = "true" ),
              ],
            )
          ),`);
}
if (wr.ai) {
  if (!wr.ai.binding) throw new Error("[ai] needs binding");
  const svc = `ai-${wr.ai.binding}`;
  forwarder(svc, `/__strato/binding/ai`);
  bindings.push(`          ( name = ${str(wr.ai.binding)},
            wrapped = (
              moduleName = "cloudflare-internal:ai-api",
              innerBindings = [ ( name = "fetcher", service = ${str(svc)} ) ],
            )
          ),`);
}

const defaultPort = stratoUrl.protocol === "https:" ? 443 : 80;
const address = `${stratoUrl.hostname}:${stratoUrl.port || defaultPort}`;
const external =
  stratoUrl.protocol === "https:"
    ? `external = ( address = ${str(address)}, https = ( tlsOptions = ( trustBrowserCas = true ) ) )`
    : `external = ( address = ${str(address)}, http = () )`;

const config = `# Generated by scripts/worker/gen-config.mjs from ${relative(dirname(out), wranglerPath)}
# Strato: ${origin}${basePath}   Worker: http://${listen}:${port}
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    ( name = "main",
      worker = (
        compatibilityDate = ${str(compatDate)},
        modules = [ ( name = "worker", esModule = embed ${str(mainModule)} ) ],
        bindings = [
${bindings.join("\n")}
        ],
      )
    ),
${services.join("\n")}
    ( name = "strato", ${external} ),
  ],
  sockets = [ ( name = "http", address = ${str(`${listen}:${port}`)}, http = (), service = "main" ) ],
);
`;
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, config);
console.error(`wrote ${out} (Strato ${origin}${basePath}, Worker on http://${listen}:${port})`);
