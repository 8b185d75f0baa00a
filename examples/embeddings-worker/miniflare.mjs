// Runs the Worker under miniflare (v4 API, Node >= 22) with its AI and Vectorize bindings sent to
// Strato's miniflare remote-bindings endpoint: miniflare's own AI/Vectorize plugins, pointed at a
// URL of our choosing through each binding's `remoteProxyConnectionString` option.
//   STRATO_URL=http://127.0.0.1:8787 WORKER_PORT=8788 node miniflare.mjs
// The binding name -> index name map travels in the connection string's query string.
import { fileURLToPath } from "node:url";

// run.sh installs miniflare into a cache dir and passes its entry point in MINIFLARE_MODULE.
const { Miniflare } = await import(process.env.MINIFLARE_MODULE ?? "miniflare");

const strato = (process.env.STRATO_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
const port = Number(process.env.WORKER_PORT ?? 8788);
const remote = new URL(`${strato}/__strato/binding/mf`);
remote.searchParams.set("VECTORIZE", "embeddings-index");

const mf = new Miniflare({
  modules: true,
  scriptPath: fileURLToPath(new URL("./src/index.js", import.meta.url)),
  compatibilityDate: "2026-01-01",
  host: "127.0.0.1",
  port,
  ai: { binding: "AI", remoteProxyConnectionString: remote },
  vectorize: { VECTORIZE: { index_name: "embeddings-index", remoteProxyConnectionString: remote } },
});
const url = await mf.ready;
console.error(`Worker (miniflare) on ${url} -> Strato ${remote}`);
process.on("SIGINT", () => mf.dispose().then(() => process.exit(0)));
process.on("SIGTERM", () => mf.dispose().then(() => process.exit(0)));
