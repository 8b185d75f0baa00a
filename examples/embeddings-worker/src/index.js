// The Vectorize embeddings tutorial's Worker
// (developers.cloudflare.com/vectorize/get-started/embeddings), in plain JS, plus routes that
// exercise the rest of the Vectorize binding. It only uses env.AI and env.VECTORIZE, exactly as on
// Cloudflare; whether those are backed by Cloudflare or by Strato is decided by the runtime's config.

const MODEL = "@cf/baai/bge-base-en-v1.5";

const STORIES = [
  "This is a story about an orange cloud",
  "This is a story about a llama",
  "This is a story about a hugging emoji",
];

async function embed(env, texts) {
  const out = await env.AI.run(MODEL, { text: texts });
  return out.data;
}

async function queryVector(env, text) {
  const [vector] = await embed(env, [text]);
  return vector;
}

function ids(url) {
  return (url.searchParams.get("ids") ?? "1,2,3").split(",").filter((s) => s !== "");
}

// Extra routes (not in the tutorial). Each returns JSON.
const routes = {
  // POST-free helpers so a browser or curl can drive everything.
  "/describe": async (env) => env.VECTORIZE.describe(),

  "/embed": async (env, url) => env.AI.run(MODEL, { text: [url.searchParams.get("text") ?? "orange cloud"] }),

  "/query-by-id": async (env, url) =>
    env.VECTORIZE.queryById(url.searchParams.get("id") ?? "1", { topK: Number(url.searchParams.get("topK") ?? 3) }),

  "/get-by-ids": async (env, url) => env.VECTORIZE.getByIds(ids(url)),

  "/delete-by-ids": async (env, url) => env.VECTORIZE.deleteByIds(ids(url)),

  "/return-values": async (env) =>
    env.VECTORIZE.query(await queryVector(env, "orange cloud"), { topK: 3, returnValues: true }),

  // Vectors with metadata and a namespace, for the metadata / filter / namespace routes.
  "/insert-metadata": async (env) => {
    const data = await embed(env, STORIES);
    const vectors = [
      { id: "4", values: data[0], metadata: { kind: "story", subject: "cloud", colour: "orange", n: 4 } },
      { id: "5", values: data[1], metadata: { kind: "story", subject: "llama", n: 5 } },
      { id: "6", values: data[2], namespace: "emoji", metadata: { kind: "story", subject: "emoji", n: 6 } },
    ];
    return env.VECTORIZE.insert(vectors);
  },

  // ?level=all|indexed|none|true|false (true/false: the legacy boolean form)
  "/return-metadata": async (env, url) => {
    const raw = url.searchParams.get("level") ?? "all";
    const level = raw === "true" ? true : raw === "false" ? false : raw;
    return env.VECTORIZE.query(await queryVector(env, "orange cloud"), { topK: 3, returnMetadata: level });
  },

  // ?filter=<JSON>, default {"subject":{"$eq":"llama"}}
  "/filter": async (env, url) => {
    const filter = JSON.parse(url.searchParams.get("filter") ?? '{"subject":{"$eq":"llama"}}');
    return env.VECTORIZE.query(await queryVector(env, "orange cloud"), { topK: 3, filter, returnMetadata: "all" });
  },

  // ?ns=emoji
  "/namespace": async (env, url) =>
    env.VECTORIZE.query(await queryVector(env, "orange cloud"), {
      topK: 3,
      namespace: url.searchParams.get("ns") ?? "emoji",
      returnMetadata: "all",
    }),

  // A query vector of the wrong length: the binding throws; answer its message.
  // On Cloudflare: "VECTOR_QUERY_ERROR (code = 40006): invalid query vector, expected 768 dimensions, and got 3 dimensions"
  "/wrong-dimension": async (env) => {
    try {
      const matches = await env.VECTORIZE.query([0.1, 0.2, 0.3], { topK: 1 });
      return { unexpected: matches };
    } catch (e) {
      return { error: e.message };
    }
  },
};

export default {
  async fetch(request, env, ctx) {
    let path = new URL(request.url).pathname;
    if (path.startsWith("/favicon")) {
      return new Response("", { status: 404 });
    }

    // The tutorial's /insert: embed the three stories and upsert them as ids "1", "2", "3".
    if (path === "/insert") {
      const modelResp = await env.AI.run(MODEL, { text: STORIES });
      let vectors = [];
      let id = 1;
      modelResp.data.forEach((vector) => {
        vectors.push({ id: `${id}`, values: vector });
        id++;
      });
      let inserted = await env.VECTORIZE.upsert(vectors);
      return Response.json(inserted);
    }

    const route = routes[path];
    if (route) {
      try {
        return Response.json(await route(env, new URL(request.url)));
      } catch (e) {
        return Response.json({ error: e.message, name: e.name }, { status: 500 });
      }
    }

    // The tutorial's default route: embed "orange cloud" and return the nearest story.
    const userQuery = "orange cloud";
    const queryVector = await env.AI.run(MODEL, { text: [userQuery] });
    let matches = await env.VECTORIZE.query(queryVector.data[0], { topK: 1 });
    return Response.json({
      // Expect a vector ID. 1 to be your top match with a score of
      // ~0.89693683
      // This tutorial uses a cosine distance metric, where the closer to one,
      // the more similar.
      matches: matches,
    });
  },
};
