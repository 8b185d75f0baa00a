#!/usr/bin/env python3
"""Writes gateway/openapi.json (OpenAPI 3.0.3), the gateway's HTTP API as implemented in
gateway/src/routes/*.rs (shapes read by hand from the handlers). Both Cloudflare prefixes get the
same operations from one description here, which is why the document is generated.

    python3 scripts/gen_openapi.py > gateway/openapi.json

tests/tests/openapi.rs checks the document against the running gateway (routes, schemathesis)."""
import json
import sys

ACCOUNT_EXAMPLE = "023e105f4ecef8ad9ca31a8372d0c353"
INDEX_EXAMPLE = "example-index"
DIMS_EXAMPLE = 32
EXAMPLE_VECTOR = [round(0.01 * (i + 1), 2) for i in range(DIMS_EXAMPLE)]
PRESETS = [
    "@cf/baai/bge-small-en-v1.5",
    "@cf/baai/bge-base-en-v1.5",
    "@cf/baai/bge-large-en-v1.5",
    "openai/text-embedding-ada-002",
    "cohere/embed-multilingual-v2.0",
]

CF_PREFIXES = [("/client/v4/accounts/{account_id}", ""), ("/accounts/{account_id}", "Alias")]


def ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def schema(name):
    return ref("schemas", name)


def envelope(result, description):
    return {
        "type": "object",
        "description": description,
        "required": ["result", "success", "errors", "messages"],
        "properties": {
            "result": result,
            "success": {"type": "boolean", "enum": [True]},
            "errors": {"type": "array", "maxItems": 0, "items": schema("CfMessage")},
            "messages": {
                "type": "array",
                "items": schema("CfMessage"),
                "description": "Informational messages, e.g. index-svc's query warnings (a filter on a property without a metadata index), each with code 1000.",
            },
        },
    }


def ok_json(s, description="Success (Cloudflare envelope)."):
    return {"description": description, "content": {"application/json": {"schema": s}}}


def json_body(s, required=True, description=None):
    b = {"required": required, "content": {"application/json": {"schema": s}}}
    if description:
        b["description"] = description
    return b


NDJSON_EXAMPLE = "\n".join(
    json.dumps(v, separators=(",", ":"))
    for v in [
        {"id": "a", "values": EXAMPLE_VECTOR, "metadata": {"genre": "story", "year": 2024}},
        {"id": "b", "values": EXAMPLE_VECTOR[::-1], "namespace": "ns1"},
    ]
) + "\n"

components = {
    "securitySchemes": {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token configured with --api-token / --api-tokens-file (STRATO_API_TOKENS / STRATO_API_TOKENS_FILE), sent as `Authorization: Bearer <token>`. A file entry `TOKEN accounts=a,b` limits the token to those accounts. With no token configured the API is open and the gateway only listens on loopback.",
        },
        "xAuthKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Auth-Key",
            "description": "wrangler's global-key mode: the same token in `X-Auth-Key` (`X-Auth-Email` is ignored). Used only when `Authorization` is absent.",
        },
    },
    "parameters": {
        "AccountId": {
            "name": "account_id",
            "in": "path",
            "required": True,
            "description": "The account: index-svc keeps each account's indexes apart. Cloudflare's are 32 hex digits; the gateway accepts 1 to 64 ASCII letters, digits, '-' and '_', written as they are. Anything else in the account segment (empty, missing, percent-encoded even when the decoded text would do, another character, longer) is 400 code 7003 `Could not route to …, perhaps your object identifier is invalid?`, answered before the token is checked, so that the account the token is checked against is byte for byte the one the route acts on.",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "example": ACCOUNT_EXAMPLE},
        },
        "IndexName": {
            "name": "index_name",
            "in": "path",
            "required": True,
            "description": "Index name: a lowercase letter, then lowercase letters, digits, '-' or '_' (at most 64 bytes). Unknown names answer 404 code 3000.",
            "schema": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$", "example": INDEX_EXAMPLE},
        },
        "UnparsableBehavior": {
            "name": "unparsable-behavior",
            "in": "query",
            "required": False,
            "description": "What to do with an NDJSON line (or JSON array element) that is not a vector: `error` (default) fails the request with 40023, `discard` drops the line.",
            "schema": {"type": "string", "enum": ["error", "discard"], "default": "error"},
        },
    },
    "schemas": {
        "CfMessage": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer", "minimum": 0}, "message": {"type": "string"}},
        },
        "CfError": {
            "type": "object",
            "description": "Cloudflare's failure envelope. Codes: 10000 authentication (and the open mode's refusals); 7000 no route; 7003 invalid account id in the path; 3000 index not found; 3001 invalid config or name; 3002 duplicate name; 40003 bad request (also a path or query string that does not decode, and a body over the route's limit); 40004 vector not found; 40005 metadata index not found; 40006 invalid query vector; 40008 id too long; 40012 invalid vector; 40023 unparsable vectors; 40007 too many ids; 40025 topK out of range (also 0); 40026 bad JSON body or content type; 40041 too many requests (also a token's mutation rate); 5006 AI bad input; 5007 no such model; 3040 AI capacity exceeded; 1503 service unavailable or the gateway at its limit of requests in flight; 1000 internal error (the message names the request id, the service's text stays in the gateway's log).",
            "required": ["result", "success", "errors", "messages"],
            "properties": {
                "result": {"type": "object", "nullable": True, "enum": [None], "description": "Always null."},
                "success": {"type": "boolean", "enum": [False]},
                "errors": {"type": "array", "minItems": 1, "maxItems": 1, "items": schema("CfMessage")},
                "messages": {"type": "array", "maxItems": 0, "items": schema("CfMessage")},
            },
        },
        "Metric": {"type": "string", "enum": ["cosine", "euclidean", "dot-product"]},
        "Index": {
            "type": "object",
            "required": ["name", "description", "config", "created_on", "modified_on"],
            "properties": {
                "name": {"type": "string"},
                "description": {"type": "string"},
                "config": {
                    "type": "object",
                    "required": ["dimensions", "metric"],
                    "properties": {
                        "dimensions": {"type": "integer", "minimum": 32, "maximum": 1536},
                        "metric": schema("Metric"),
                    },
                },
                "created_on": {"type": "string", "description": "RFC 3339 time."},
                "modified_on": {"type": "string", "description": "RFC 3339 time."},
            },
        },
        "CreateIndexRequest": {
            "type": "object",
            "required": ["name", "config"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$", "example": INDEX_EXAMPLE},
                "description": {"type": "string", "maxLength": 1024},
                "config": {
                    "description": "Dimensions and metric, or a preset (a model name; its dimensions, metric cosine). A missing config, or dimensions/metric outside `config`, is 400 code 3001 `Config must be provided`. `metric` is read case-insensitively.",
                    "anyOf": [
                        {
                            "type": "object",
                            "required": ["dimensions", "metric"],
                            "properties": {
                                "dimensions": {"type": "integer", "minimum": 32, "maximum": 1536},
                                "metric": schema("Metric"),
                            },
                        },
                        {
                            "type": "object",
                            "required": ["preset"],
                            "properties": {"preset": {"type": "string", "enum": PRESETS}},
                        },
                    ],
                },
            },
            "example": {"name": INDEX_EXAMPLE, "description": "an example", "config": {"dimensions": DIMS_EXAMPLE, "metric": "cosine"}},
        },
        "IndexInfo": {
            "type": "object",
            "required": ["dimensions", "vectorCount", "processedUpToMutation", "processedUpToDatetime"],
            "properties": {
                "dimensions": {"type": "integer"},
                "vectorCount": {"type": "integer", "minimum": 0},
                "processedUpToMutation": {"type": "string", "nullable": True, "description": "Null before the first mutation."},
                "processedUpToDatetime": {"type": "string", "nullable": True, "description": "Null before the first mutation."},
            },
        },
        "Mutation": {
            "type": "object",
            "required": ["mutationId"],
            "properties": {"mutationId": {"type": "string", "description": "A UUID."}},
        },
        "Metadata": {
            "type": "object",
            "additionalProperties": True,
            "description": "Arbitrary JSON object (at most 10 KiB serialized). Numbers are stored as doubles; integral ones below 2^53 come back as integers.",
        },
        "VectorIn": {
            "type": "object",
            "required": ["id", "values"],
            "properties": {
                "id": {"type": "string", "minLength": 1, "maxLength": 64, "description": "At most 64 bytes (40008 beyond)."},
                "values": {
                    "type": "array",
                    "items": {"type": "number"},
                    "description": "Exactly the index's dimensions (40012 otherwise); stored as float32.",
                },
                "namespace": {"type": "string", "maxLength": 64},
                "metadata": schema("Metadata"),
            },
        },
        "Vector": {
            "type": "object",
            "required": ["id", "values"],
            "properties": {
                "id": {"type": "string"},
                "values": {"type": "array", "items": {"type": "number"}, "description": "float32 widened to double."},
                "metadata": schema("Metadata"),
                "namespace": {"type": "string", "description": "Absent when empty."},
            },
        },
        "QueryRequest": {
            "type": "object",
            "description": "`vector` or `vectorId` (neither: 400 code 40006, 0 dimensions). An empty `filter` object means no filter.",
            "properties": {
                "vector": {"type": "array", "items": {"type": "number"}, "description": "The query vector; the index's dimensions."},
                "vectorId": {"type": "string", "description": "Query by a stored vector's id instead (404 code 40004 if unknown)."},
                "topK": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "default": 5,
                    "description": "At most 100, and at most 50 with returnValues or returnMetadata=all (400 code 40025 beyond).",
                },
                "returnValues": {"type": "boolean", "default": False},
                "returnMetadata": {
                    "type": "string",
                    "enum": ["none", "indexed", "all"],
                    "default": "none",
                    "description": "The legacy boolean is rejected with 400 code 40026.",
                },
                "filter": {"type": "object", "additionalProperties": True, "description": "Vectorize metadata filter ($eq, $ne, $in, $nin, $lt, $lte, $gt, $gte); properties need a metadata index."},
                "namespace": {"type": "string"},
            },
            "example": {"vector": EXAMPLE_VECTOR, "topK": 3, "returnValues": False, "returnMetadata": "indexed"},
        },
        "Match": {
            "type": "object",
            "required": ["id", "score"],
            "properties": {
                "id": {"type": "string"},
                "score": {"type": "number"},
                "values": {"type": "array", "items": {"type": "number"}, "description": "With returnValues only."},
                "metadata": schema("Metadata"),
                "namespace": {"type": "string"},
            },
        },
        "QueryResult": {
            "type": "object",
            "required": ["count", "matches"],
            "properties": {"count": {"type": "integer", "minimum": 0}, "matches": {"type": "array", "items": schema("Match")}},
        },
        "IdsRequest": {
            "type": "object",
            "required": ["ids"],
            "properties": {"ids": {"type": "array", "maxItems": 5000, "items": {"type": "string"}}},
            "example": {"ids": ["a", "b"]},
        },
        "VectorList": {
            "type": "object",
            "required": ["count", "totalCount", "isTruncated", "nextCursor", "cursorExpirationTimestamp", "vectors"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "totalCount": {"type": "integer", "minimum": 0},
                "isTruncated": {"type": "boolean"},
                "nextCursor": {"type": "string", "nullable": True, "description": "Null on the last page."},
                "cursorExpirationTimestamp": {"type": "string", "nullable": True},
                "vectors": {
                    "type": "array",
                    "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
                },
            },
        },
        "MetadataIndexType": {"type": "string", "enum": ["string", "number", "boolean"]},
        "CreateMetadataIndexRequest": {
            "type": "object",
            "required": ["propertyName", "indexType"],
            "properties": {
                "propertyName": {"type": "string", "minLength": 1, "maxLength": 512},
                "indexType": {"allOf": [schema("MetadataIndexType")], "description": "Read case-insensitively (wrangler sends `String`)."},
            },
            "example": {"propertyName": "genre", "indexType": "string"},
        },
        "DeleteMetadataIndexRequest": {
            "type": "object",
            "required": ["propertyName"],
            "properties": {"propertyName": {"type": "string", "minLength": 1, "maxLength": 512}},
            "example": {"propertyName": "genre"},
        },
        "MetadataIndexList": {
            "type": "object",
            "required": ["metadataIndexes"],
            "properties": {
                "metadataIndexes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["propertyName", "indexType"],
                        "properties": {"propertyName": {"type": "string"}, "indexType": schema("MetadataIndexType")},
                    },
                }
            },
        },
        "NdjsonVectors": {
            "type": "string",
            "description": "NDJSON: one VectorIn object per line (`\\r\\n`, blank lines, a trailing newline and a leading BOM accepted). 1..5000 vectors.",
            "example": NDJSON_EXAMPLE,
        },
        "AiRunRequest": {
            "type": "object",
            "description": "`text` for every model; bge-m3 also takes `{query?, contexts, truncate_inputs?}` (spec §5.3). `prompt_name` and `dimensions` are Strato's, for the models with prompts (EmbeddingGemma, Qwen3-Embedding) or Matryoshka lengths; the spec has no schema for those models (README, Models).",
            "anyOf": [{"required": ["text"]}, {"required": ["contexts"]}],
            "properties": {
                "text": {
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "minLength": 1}},
                    ]
                },
                "pooling": {"type": "string", "enum": ["mean", "cls"], "description": "Default: the model's (mean for BGE). A model whose export fixes its pooling refuses another."},
                "contexts": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}},
                             "description": "bge-m3 only (400 code 5006 for other models); not with `text`."},
                "query": {"type": "string", "minLength": 1, "description": "bge-m3 only, with `contexts`: rank them against it."},
                "truncate_inputs": {"type": "boolean", "default": False, "description": "bge-m3 only: cut a text over 8,192 tokens instead of refusing it (400 code 5006)."},
                "prompt_name": {"type": "string", "minLength": 1, "description": "A prompt of the model's (`query`, `document`, a task name): prepended to every text. 400 for a model without it."},
                "dimensions": {"type": "integer", "minimum": 1, "description": "A Matryoshka length of the model's (EmbeddingGemma 768/512/256/128, Qwen3 1024/…): the vectors are cut and re-normalised. 400 otherwise."},
            },
            "example": {"text": ["This is a story about an orange cloud", "This is a story about a llama"]},
        },
        "AiRunResult": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["shape", "data"],
                    "properties": {
                        "shape": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "integer", "minimum": 0}, "description": "[texts, dimensions]"},
                        "data": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                        "pooling": {"type": "string", "enum": ["mean", "cls"], "description": "Echoed for mean and CLS pooling; absent for a last-token model."},
                    },
                },
                {
                    "type": "object",
                    "description": "bge-m3's `contexts` form: with a `query`, the contexts ranked by cosine similarity (best first, `id` the context's index); without, their embeddings.",
                    "required": ["response"],
                    "properties": {"response": {"type": "array", "items": {"oneOf": [
                        {"type": "object", "required": ["id", "score"], "properties": {"id": {"type": "integer", "minimum": 0}, "score": {"type": "number"}}},
                        {"type": "array", "items": {"type": "number"}},
                    ]}}},
                },
            ]
        },
        "OpenAiEmbeddingsRequest": {
            "type": "object",
            "required": ["model", "input"],
            "properties": {
                "model": {"type": "string", "minLength": 1, "example": "@cf/baai/bge-base-en-v1.5"},
                "input": {
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "string", "minLength": 1}},
                    ],
                    "description": "Token arrays are not supported. Arrays longer than 100 are embedded in chunks of 100.",
                },
                "encoding_format": {"type": "string", "enum": ["float", "base64"], "default": "float"},
                "dimensions": {"type": "integer", "minimum": 1, "description": "The model's dimensions, or one of its Matryoshka lengths (the vectors cut and re-normalised); 400 otherwise."},
            },
        },
        "OpenAiEmbeddingList": {
            "type": "object",
            "required": ["object", "data", "model", "usage"],
            "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["object", "index", "embedding"],
                        "properties": {
                            "object": {"type": "string", "enum": ["embedding"]},
                            "index": {"type": "integer", "minimum": 0},
                            "embedding": {
                                "oneOf": [
                                    {"type": "array", "items": {"type": "number"}},
                                    {"type": "string", "description": "encoding_format=base64: little-endian float32 bytes, standard base64."},
                                ]
                            },
                        },
                    },
                },
                "model": {"type": "string"},
                "usage": {
                    "type": "object",
                    "required": ["prompt_tokens", "total_tokens"],
                    "properties": {"prompt_tokens": {"type": "integer", "minimum": 0}, "total_tokens": {"type": "integer", "minimum": 0}},
                },
            },
        },
        "OpenAiError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "type", "param", "code"],
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string", "enum": ["invalid_request_error", "server_error"]},
                        "param": {"type": "string", "nullable": True, "enum": [None]},
                        "code": {"type": "string", "nullable": True, "enum": [None]},
                    },
                }
            },
        },
        "BindingError": {
            "type": "object",
            "description": "The error body of the Worker bindings' routes (`/__strato/binding/…`): what workerd's bindings parse. Vectorize: `{code, error}` (the binding throws `<OP>_ERROR (code = <code>): <error>`); Workers AI adds `errors: [{code, message}]` (the binding throws `<code>: <message>`). Refusals before the route (open mode, load shedding, a body over the limit) carry `error` only.",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "code": {"type": "integer", "description": "Cloudflare's error code (as the REST API's)."},
                "errors": {"type": "array", "items": schema("CfMessage")},
            },
        },
        "ApiError": {
            "type": "object",
            "description": "The error body of every path outside the API prefixes (the tutorial's routes, `/__strato/status`, `/openapi.json`): `{\"error\": \"…\"}`. Errors from a service also carry the gRPC code and the service.",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "code": {"type": "string", "description": "gRPC status code name, e.g. NotFound."},
                "service": {"type": "string", "enum": ["embedder", "index"]},
            },
        },
        "TutorialMatches": {
            "type": "object",
            "required": ["matches"],
            "properties": {
                "matches": {
                    "type": "object",
                    "required": ["count", "matches"],
                    "properties": {
                        "count": {"type": "integer", "minimum": 0},
                        "matches": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "score"],
                                "properties": {"id": {"type": "string"}, "score": {"type": "number"}, "namespace": {"type": "string"}},
                            },
                        },
                    },
                }
            },
        },
        "TutorialInsertRequest": {
            "type": "object",
            "required": ["texts"],
            "additionalProperties": False,
            "properties": {
                "texts": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "minLength": 1}, "description": "Embedded with the AI binding's model in one call (the embedder takes at most 100, none empty)."},
                "ids": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}, "description": "As many as texts (400 otherwise); default \"1\", \"2\", …"},
            },
            "example": {"texts": ["A recipe for sourdough bread", "Notes on Rust's borrow checker"], "ids": ["bread", "rust"]},
        },
        "StatusModel": {
            "type": "object",
            "description": "The model the AI binding serves, or, while the embedder does not answer, the requested one and why not.",
            "required": ["requested"],
            "properties": {
                "requested": {"type": "string"},
                "serving": {"type": "string"},
                "dimensions": {"type": "integer"},
                "fallback": {"type": "boolean"},
                "reason": {"type": "string", "nullable": True, "description": "Why the fallback is served (names model files); null when it is not."},
                "error": {"type": "string", "description": "Why the embedder did not answer (only while it does not)."},
            },
        },
        "Status": {
            "type": "object",
            "description": "What an authorised caller sees: a valid token, or anyone in the open mode (no token configured, loopback only).",
            "required": ["ai", "healthy", "vectorize", "embedder", "index"],
            "properties": {
                "ai": schema("StatusModel"),
                "healthy": {"type": "boolean", "description": "Whether the embedder answered."},
                "vectorize": {
                    "type": "object",
                    "description": "The VECTORIZE binding.",
                    "required": ["index_name", "account"],
                    "properties": {"index_name": {"type": "string"}, "account": {"type": "string"}},
                },
                "embedder": {"type": "array", "items": {"type": "string"}, "description": "embedder-svc endpoints."},
                "index": {"type": "array", "items": {"type": "string"}, "description": "index-svc endpoints (the pods indexes are spread over)."},
                "services": {
                    "type": "array",
                    "description": "Each service's gRPC health, asked with a one-second deadline: the embedder, then every index pod.",
                    "items": {
                        "type": "object",
                        "required": ["service", "target", "serving", "state"],
                        "properties": {
                            "service": {"type": "string", "enum": ["embedder", "index"]},
                            "target": {"type": "string", "description": "host:port (the embedder's configured URLs, comma separated)."},
                            "serving": {"type": "boolean"},
                            "state": {"type": "string", "description": "`serving`, `not serving (…)` or `unreachable (…)` with the transport's words."},
                        },
                    },
                },
            },
        },
        "Summary": {
            "type": "object",
            "description": "The gateway's traffic over the last minutes, from its own latency histogram (every route and status), one point per interval.",
            "required": ["step_seconds", "points"],
            "properties": {
                "step_seconds": {"type": "integer", "description": "Seconds between samples (2)."},
                "points": {
                    "type": "array",
                    "description": "Oldest first; at most ten minutes.",
                    "items": {
                        "type": "object",
                        "required": ["t", "rps"],
                        "properties": {
                            "t": {"type": "integer", "description": "The interval's end, milliseconds since the epoch."},
                            "rps": {"type": "number"},
                            "p50_ms": {"type": "number", "nullable": True, "description": "Median latency until the response head, ms; null when the interval served nothing."},
                            "p99_ms": {"type": "number", "nullable": True},
                        },
                    },
                },
            },
        },
        "Account": {
            "type": "object",
            "required": ["id", "name", "type"],
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string", "enum": ["standard"]}},
        },
        "Model": {
            "type": "object",
            "description": "A model of the embedder's catalogue in Cloudflare's shape, plus `loaded`, `dimensions`, `max_input_tokens` and `source_detail` (in words, whether it is loaded or only known; never the embedder's paths).",
            "required": ["id", "name", "task", "properties", "loaded", "dimensions"],
            "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "source": {"type": "integer"}, "description": {"type": "string"},
                "task": {"type": "object", "properties": {"name": {"type": "string"}}},
                "properties": {"type": "array", "items": {"type": "object", "properties": {"property_id": {"type": "string"}, "value": {"type": "string"}}}},
                "loaded": {"type": "boolean", "description": "Loaded and answering now; false: in the catalogue, files absent."},
                "dimensions": {"type": "integer"}, "max_input_tokens": {"type": "integer"}, "source_detail": {"type": "string"},
            },
        },
        "PublicStatus": {
            "type": "object",
            "description": "What a caller without a valid token sees with `--public-tutorial`: the model names and whether the embedder answers; no addresses, no binding, no fallback reason.",
            "required": ["ai", "healthy"],
            "additionalProperties": False,
            "properties": {
                "ai": {
                    "type": "object",
                    "description": "`{requested, serving, dimensions, fallback}`, or `{requested}` while the embedder does not answer.",
                    "required": ["requested"],
                    "additionalProperties": False,
                    "properties": {
                        "requested": {"type": "string"},
                        "serving": {"type": "string"},
                        "dimensions": {"type": "integer"},
                        "fallback": {"type": "boolean"},
                    },
                },
                "healthy": {"type": "boolean"},
            },
        },
    },
    "responses": {},
}


# ------------------------------------------------------------------------------------------------
# Error responses, described once per error shape and referenced by every operation.
#
# Each path answers its errors in one shape (gateway/src/routes/edge.rs, `Shape::of`):
#   Cf        Cloudflare's envelope: /client/v4/… and /accounts/… (except …/ai/v1/…);
#   Oa        OpenAI's `{"error": {message, type, param, code}}`: /v1/… and …/ai/v1/…;
#   Tutorial  `{"error": "…"}`: every other path (tutorial, /__strato/status, /openapi.json).
# The edge answers some of them before any route (edge.rs): 503 when load is shed, 403 for the
# open mode's refusals, 400 code 7003 for a bad account segment, and re-says axum's plain-text
# 400/413 rejections in the path's shape.
# ------------------------------------------------------------------------------------------------

R = components["responses"]
components["headers"] = {
    "RetryAfter": {
        "description": "`1` (seconds) when the gateway shed the request because `--max-concurrent-requests` were in flight; absent when a service is unavailable.",
        "schema": {"type": "integer", "minimum": 1},
    },
}
SHED = (
    "or the gateway is at a limit: of requests at once (`--max-concurrent-requests`, default 512; requests without a valid token have a pool of their own, "
    "`--tokenless-max-concurrent`, 16) or of memory (`--memory-budget-mib`: a body is charged 3 bytes a byte before it is read, an answer its size): "
    "the request is refused at once, never queued, with `Retry-After: 1`"
)
OPEN_MODE_403 = (
    "Without any token configured (the open mode, loopback only), also: a `Host` that is not a loopback name (`localhost`, `*.localhost`, 127.0.0.0/8, `[::1]`; "
    "a DNS-rebinding page), or a cross-site write: a method other than GET/HEAD/OPTIONS without an `Authorization` header (any value) whose `Content-Type` is absent or a form's "
    "(`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`), or `GET /insert` with `Sec-Fetch-Site` other than `same-origin`/`none` or an `Origin`/`Referer` of another host."
)


def error_response(shape, description, headers=None):
    r = {"description": description, "content": {"application/json": {"schema": schema(shape)}}}
    if headers:
        r["headers"] = headers
    return r


RETRY_AFTER = {"Retry-After": ref("headers", "RetryAfter")}

ERROR_NAMES = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "NotFound",
    "413": "PayloadTooLarge",
    "429": "TooManyRequests",
    "500": "Internal",
    "503": "Unavailable",
}


def error_family(family, shape, described):
    """The shared error responses (one per status in `described`: status → description) of a
    family of routes answering in `shape`; a 503 also says when to retry."""
    for status, description in described.items():
        R[family + ERROR_NAMES[status]] = error_response(shape, description, RETRY_AFTER if status == "503" else None)


# Cloudflare's envelope (schema CfError).
error_family(
    "Cf",
    "CfError",
    {
        "400": "Bad request. Code 7003: the account segment of the path is not an account id (see the `account_id` parameter). Code 40003: a path parameter or query string that does not decode, or another bad request. The route's own: 3001, 3002, 40006, 40007 (more than 1,000 ids in a getByIds or deleteByIds), 40008, 40012, 40023, 40025, 40026 (Vectorize), 5006, 5007 (Workers AI).",
        "401": "No credentials: code 10000 `Authentication error`.",
        "403": "Code 10000: an unknown token, or a token not allowed for the account (`Authentication error`). " + OPEN_MODE_403,
        "404": "Not found: code 3000 (index), 40004 (vector id), 40005 (metadata index).",
        "413": "The body is over the route's limit (in the operation's description): code 40003 `Request body too large for this route (…)`, before the body is read.",
        "429": "The service is overloaded, or the token passed a rate limit (then with `Retry-After`): code 40041 (Vectorize: index-svc overloaded, or the token's `--mutations-per-minute`), 3040 (Workers AI: the embedder over capacity, or the token's `--ai-requests-per-minute` or `--embed-tokens-per-second`).",
        "500": "Code 1000: an unexpected service error, `Internal error (request id …)` (the request's `x-request-id`; the service's text is only in the gateway's log), or `Internal error: the gateway is misconfigured` (a service refused the gateway's `--service-token`).",
        "503": f"Code 1503, please retry: a service is down or too slow, {SHED}.",
    },
)

# OpenAI's error shape (schema OpenAiError): no codes; `type` server_error for 5xx.
error_family(
    "Oa",
    "OpenAiError",
    {
        "400": "Invalid request, or the embedder rejected the input; also a path or query string that does not decode, and (under the account prefixes) an account segment that is not an account id (`Could not route to …`).",
        "401": "No credentials (`Authentication error`).",
        "403": "An unknown token, or a token not allowed for the account (`Authentication error`). " + OPEN_MODE_403,
        "404": "Unknown or unloaded model.",
        "413": "The body is over the route's limit (in the operation's description): `Request body too large for this route (…)`.",
        "429": "The embedder is over capacity, or the token passed a rate limit (then with `Retry-After`).",
        "500": "Unexpected embedder error, `Internal error (request id …)` (type server_error).",
        "503": f"The embedder is down or too slow, {SHED} (type server_error).",
    },
)

# `{"error": "…"}` (schema ApiError) on every other path.
error_family(
    "Tutorial",
    "ApiError",
    {
        "400": "Bad input (a body that is not `{texts, ids?}`, a `topK` that is not a whole number or above 100, a query string that does not decode), or the binding's model is not loaded.",
        "401": "Tokens are configured and none was sent (`Authentication error`); with `--public-tutorial`, only for what the tutorial's Worker does not serve: `POST /insert`, methods other than GET and HEAD, `?text=` over 256 bytes, `?topK=` over 5.",
        "403": "An unknown token, or (tutorial routes) a token not allowed for the binding's account, `--binding-account` (`Authentication error`); not with `--public-tutorial`. " + OPEN_MODE_403,
        "404": "The binding's index does not exist.",
        "413": "The body is over the route's limit (in the operation's description): `Request body too large for this route (…)`.",
        "429": "A service is overloaded; or, with `--public-tutorial`, this client address passed `--public-requests-per-minute` without a token, or the token a rate limit (then with `Retry-After`).",
        "500": "An unexpected service error: `Internal error (request id …)`.",
        "503": f"A service is down or too slow, {SHED}.",
    },
)

# The Worker bindings' routes (schema BindingError).
error_family(
    "Binding",
    "BindingError",
    {
        "400": "Bad input, with the REST API's code (e.g. 40006 a query vector of the wrong dimensions, 40012 a vector's, 40007 more than 1,000 ids, 5006 the AI model's input).",
        "401": "Tokens are configured and none was sent (the forwarding worker sends one; `Authentication error`).",
        "403": "A token not allowed for the binding's account (`--binding-account`). " + OPEN_MODE_403,
        "404": "Code 3000: the bound index does not exist; 40004: the stored vector of a queryById; 7000: not an operation of the binding (7001: the wrong method for one).",
        "413": "The body is over the route's limit: `Request body too large for this route (…)`.",
        "429": "A service is overloaded.",
        "500": "An unexpected service error: `Internal error (request id …)`.",
        "503": f"A service is down or too slow, {SHED}.",
    },
)


def errors(shape, statuses):
    """References to the shared error responses of `shape` (Cf, Oa, Tutorial, Binding) for `statuses`."""
    return {s: ref("responses", shape + ERROR_NAMES[s]) for s in sorted(statuses)}


# Which answers an operation can get, by what it does:
EDGE = {"403", "503"}  # every route: the open mode's refusals, load shedding
TOKEN = {"401", "403"}  # behind a token check
SERVICE = {"400", "404", "429", "500", "503"}  # calls index-svc or embedder-svc
BODY = {"413"}  # reads a body (limits below)

# Request body limits (gateway/src/routes/vectorize.rs, ai.rs; axum's 2 MiB default elsewhere).
# A body over its route's limit is refused with 413 before it is read.
KIB, MIB = 1024, 1024 * 1024
LIMITS = {
    "upload": (100 * MIB + 1 * MIB, "101 MiB (100 MiB of vectors, spec §3, plus 1 MiB of multipart framing)"),
    "query": (128 * KIB, "128 KiB (the largest legal query is about 41 KB)"),
    "ids": (2 * MIB, "2 MiB (5,000 ids of 64 bytes, escaped)"),
    "small": (32 * KIB, "32 KiB"),
    "ai": (32 * MIB, "32 MiB (2,048 texts of about 8 KiB)"),
    "default": (2 * MIB, "2 MiB (axum's default)"),
}


def limited(body, limit):
    """`body` with its size limit: in its description, and as `x-strato-max-body-bytes`."""
    size, text = LIMITS[limit]
    b = dict(body)
    b["description"] = (b.get("description", "") + f" At most {text}; 413 beyond.").strip()
    b["x-strato-max-body-bytes"] = size
    return b


SECURITY = [{"bearerAuth": []}, {"xAuthKey": []}]
PUBLIC_TUTORIAL = (
    "With tokens configured it needs one{whom}, unless the gateway runs with `--public-tutorial` (as a deployed Worker is public); "
    "with none configured (the open mode, loopback only) it is open."
)

paths = {}


def add(path, method, op):
    paths.setdefault(path, {})[method] = op


def operation(op_id, tag, summary, responses, *, security=SECURITY, description=None, params=None, body=None, limit=None):
    o = {"operationId": op_id, "tags": [tag], "summary": summary}
    if description:
        o["description"] = description
    o["security"] = security
    if params:
        o["parameters"] = params
    if body is not None:
        o["requestBody"] = limited(body, limit) if limit else body
    o["responses"] = responses
    return o


def cf_op(op_id, alias, summary, tag, params, ok, body=None, limit=None, description=None, shape="Cf", statuses=EDGE | TOKEN | SERVICE):
    """An operation under both Cloudflare prefixes (`alias` "" or "Alias"): the account segment is
    checked (400 code 7003), the token too; a body adds its limit (413)."""
    if body is not None:
        statuses = statuses | BODY
    return operation(
        op_id + alias, tag, summary + (" (alias without /client/v4)" if alias else ""),
        {"200": ok, **errors(shape, statuses | {"400"})},
        description=description, params=params, body=body, limit=limit,
    )


ACC = ref("parameters", "AccountId")
IDX = ref("parameters", "IndexName")
JSON_ONLY = "Content-Type must be application/json (400 code 40026 otherwise)."

upload_body = {
    "required": True,
    "description": "The vectors, by Content-Type: raw NDJSON (`application/x-ndjson` or `application/ndjson`); `multipart/form-data` with the NDJSON in the part named `vectors` (wrangler; the boundary is 1 to 70 characters, RFC 2046); or `application/json` as `{\"vectors\": [...]}`, a bare array, a JSON string holding NDJSON, a single vector object, or NDJSON labelled as JSON (the Python SDK). Any other Content-Type is 400 code 40026 `vectorize.unknown_content_type`; a line that is not a vector is 400 code 40023; more than 5,000 vectors is 400 code 40003 (said when the 5,001st is read). In the open mode a multipart upload also needs an `Authorization` header (any value), as a web form could send one.",
    "content": {
        "application/x-ndjson": {"schema": schema("NdjsonVectors")},
        "application/ndjson": {"schema": schema("NdjsonVectors")},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["vectors"],
                "properties": {"vectors": {"type": "string", "format": "binary", "description": "NDJSON vectors."}},
            }
        },
        "application/json": {
            "schema": {
                "anyOf": [
                    {"type": "object", "required": ["vectors"], "properties": {"vectors": {"type": "array", "items": schema("VectorIn")}}},
                    {"type": "array", "items": schema("VectorIn")},
                    {"type": "string", "description": "NDJSON in a JSON string."},
                    {"allOf": [schema("VectorIn")], "description": "A single vector object (one-line NDJSON)."},
                ],
                "description": "Also accepted: NDJSON labelled application/json (several JSON values, as the Python SDK sends), which no JSON schema describes.",
            }
        },
    },
}

for prefix, alias in CF_PREFIXES:
    vz = f"{prefix}/vectorize/v2/indexes"
    ix = f"{vz}/{{index_name}}"
    add(vz, "get", cf_op("listIndexes", alias, "List the account's indexes", "vectorize", [ACC], ok_json(envelope({"type": "array", "items": schema("Index")}, "The indexes."))))
    add(vz, "post", cf_op(
        "createIndex", alias, "Create an index", "vectorize", [ACC],
        ok_json(envelope(schema("Index"), "The new index (200, not 201).")),
        json_body(schema("CreateIndexRequest"), description=JSON_ONLY), "small",
    ))
    add(ix, "get", cf_op("getIndex", alias, "Get an index", "vectorize", [ACC, IDX], ok_json(envelope(schema("Index"), "The index."))))
    add(ix, "delete", cf_op("deleteIndex", alias, "Delete an index and its vectors", "vectorize", [ACC, IDX],
                            ok_json(envelope({"type": "object", "nullable": True, "enum": [None], "description": "Always null."}, "Deleted."))))
    add(f"{ix}/info", "get", cf_op("indexInfo", alias, "Describe an index (dimensions, vector count, last mutation)", "vectorize", [ACC, IDX],
                                   ok_json(envelope(schema("IndexInfo"), "The index's state."))))
    for op, summary in [("insert", "Insert vectors (existing ids are kept)"), ("upsert", "Upsert vectors (existing ids are replaced)")]:
        add(f"{ix}/{op}", "post", cf_op(
            op + "Vectors", alias, summary, "vectorize", [ACC, IDX, ref("parameters", "UnparsableBehavior")],
            ok_json(envelope(schema("Mutation"), "The mutation.")), upload_body, "upload",
        ))
    add(f"{ix}/query", "post", cf_op(
        "queryVectors", alias, "Nearest neighbours of a vector or a stored vector's id", "vectorize", [ACC, IDX],
        ok_json(envelope(schema("QueryResult"), "Matches, best first; index-svc's warnings as messages (code 1000).")),
        json_body(schema("QueryRequest"), description=JSON_ONLY), "query",
    ))
    add(f"{ix}/get_by_ids", "post", cf_op(
        "getByIds", alias, "Get vectors by id (missing ids are left out)", "vectorize", [ACC, IDX],
        ok_json(envelope({"type": "array", "items": schema("Vector")}, "The found vectors.")),
        json_body(schema("IdsRequest"), description=JSON_ONLY), "ids",
    ))
    add(f"{ix}/delete_by_ids", "post", cf_op(
        "deleteByIds", alias, "Delete vectors by id", "vectorize", [ACC, IDX],
        ok_json(envelope(schema("Mutation"), "The mutation.")),
        json_body(schema("IdsRequest"), description=JSON_ONLY), "ids",
    ))
    add(f"{ix}/list", "get", cf_op(
        "listVectors", alias, "List vector ids, paginated", "vectorize",
        [ACC, IDX,
         {"name": "count", "in": "query", "required": False, "description": "Page size, 1..1000 (default 100; 400 code 40003 otherwise).",
          "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
         {"name": "cursor", "in": "query", "required": False, "description": "`nextCursor` of the previous page.", "schema": {"type": "string"}}],
        ok_json(envelope(schema("VectorList"), "A page of ids.")),
    ))
    add(f"{ix}/metadata_index/create", "post", cf_op(
        "createMetadataIndex", alias, "Index a metadata property for filtering (creating an existing one is a success)", "vectorize", [ACC, IDX],
        ok_json(envelope(schema("Mutation"), "The mutation.")),
        json_body(schema("CreateMetadataIndexRequest"), description=JSON_ONLY), "small",
    ))
    add(f"{ix}/metadata_index/list", "get", cf_op(
        "listMetadataIndexes", alias, "List the metadata indexes", "vectorize", [ACC, IDX],
        ok_json(envelope(schema("MetadataIndexList"), "The metadata indexes.")),
    ))
    add(f"{ix}/metadata_index/delete", "post", cf_op(
        "deleteMetadataIndex", alias, "Delete a metadata index (unknown property: 404 code 40005)", "vectorize", [ACC, IDX],
        ok_json(envelope(schema("Mutation"), "The mutation.")),
        json_body(schema("DeleteMetadataIndexRequest"), description=JSON_ONLY), "small",
    ))

OPENAI_EXAMPLES = {
    "bge": {"value": {"model": "@cf/baai/bge-base-en-v1.5", "input": ["orange cloud"]}},
    "minilm": {"value": {"model": "@strato/all-minilm-l6-v2", "input": "orange cloud", "encoding_format": "base64"}},
}

MODEL_PARAM = {
    "name": "model",
    "in": "path",
    "required": True,
    "description": "The model name, e.g. `@cf/baai/bge-base-en-v1.5` or `@strato/all-minilm-l6-v2`. NOTE: the name contains slashes and the route takes THE REST OF THE PATH (axum `{*model}`), so `/ai/run/@cf/baai/bge-base-en-v1.5` is sent as is. OpenAPI path parameters cannot express that; generic clients percent-encode the slashes (`@cf%2Fbaai%2Fbge-base-en-v1.5`), which the gateway decodes to the same name. An unknown or unloaded model is 400 code 5007.",
    "schema": {"type": "string", "minLength": 1},
    "examples": {
        "bge": {"summary": "Workers AI's BGE base (the default AI model)", "value": "@cf/baai/bge-base-en-v1.5"},
        "minilm": {"summary": "The packaged fallback model", "value": "@strato/all-minilm-l6-v2"},
    },
    "x-strato-rest-of-path": True,
}

OPENAI_BODY = {"required": True, "description": "JSON (the Content-Type is not checked).", "content": {"application/json": {"schema": schema("OpenAiEmbeddingsRequest"), "examples": OPENAI_EXAMPLES}}}

for prefix, alias in CF_PREFIXES:
    add(f"{prefix}/ai/run/{{model}}", "post", cf_op(
        "aiRun", alias, "Workers AI: run a text-embeddings model", "workers-ai", [ACC, MODEL_PARAM],
        ok_json(envelope(schema("AiRunResult"), "The embeddings (pooling always echoed).")),
        {"required": True, "description": "JSON (the Content-Type is not checked). Anything else than the schema is 400 code 5006 `AiError: Bad input: …`; async batch requests (`{\"requests\": [...]}`) are not supported (5006).",
         "content": {"application/json": {"schema": schema("AiRunRequest")}}},
        "ai",
        description="The account id is checked against the token and otherwise ignored (one embedder serves every account).",
        statuses=(EDGE | TOKEN | SERVICE) - {"404"},  # unknown models are 400 code 5007
    ))
    add(f"{prefix}/ai/v1/embeddings", "post", cf_op(
        "openAiEmbeddings", alias, "OpenAI-compatible embeddings (Workers AI's /ai/v1 path)", "openai", [ACC],
        ok_json(schema("OpenAiEmbeddingList"), "The embeddings in OpenAI's shape (no envelope)."),
        OPENAI_BODY, "ai",
        description="OpenAI's request and response shapes and OpenAI-shaped errors (no Cloudflare envelope), the edge's and the token check's included (an invalid account segment is a 400 in OpenAI's shape).",
        shape="Oa",
    ))

for prefix, alias in CF_PREFIXES:
    add(f"{prefix}/ai/models/search", "get", cf_op(
        "aiModels", alias, "Workers AI: the model catalogue (what is loaded, what is only known)", "workers-ai", [ACC],
        ok_json(envelope({"type": "array", "items": schema("Model")}, "Every model of the embedder's catalogue.")),
        description="Cloudflare's `models/search`; its filters (`search`, `task`, paging) are not applied: the catalogue is a handful of embedding models. The console's model picker reads it.",
        statuses=(EDGE | TOKEN | SERVICE) - {"404"},
    ))

add("/client/v4/accounts", "get", operation(
    "accounts", "strato", "The accounts the token may use (Cloudflare's account list)",
    {"200": ok_json({"type": "object", "required": ["result", "success", "errors", "messages", "result_info"], "properties": {
        "result": {"type": "array", "items": schema("Account")}, "success": {"type": "boolean"},
        "errors": {"type": "array", "items": {"type": "object"}}, "messages": {"type": "array", "items": {"type": "object"}},
        "result_info": {"type": "object", "properties": {"page": {"type": "integer"}, "per_page": {"type": "integer"}, "count": {"type": "integer"}, "total_count": {"type": "integer"},
                        "any_account": {"type": "boolean", "description": "The token may use any account (or no token is configured): the list holds the binding's account, others may be named."}}}}},
        "The token's accounts in Cloudflare's envelope."), **errors("Cf", EDGE | TOKEN)},
    description="A token limited to accounts (`TOKEN accounts=a,b`) lists those; a token for every account, or the open mode, lists the binding's account (`--binding-account`, when it is a valid id) with `result_info.any_account`. The console signs in with it.",
))
add("/__strato/summary", "get", operation(
    "summary", "strato", "Requests per second and p50/p99 latency over the last minutes (the console's charts)",
    {"200": ok_json(schema("Summary"), "The points so far (bare)."), **errors("Tutorial", EDGE | TOKEN)},
    description="A token for every account (none in the open mode): the traffic is every tenant's, so a token limited to some accounts gets 403, as `/__strato/status` hides its internals from it. Derived from `strato_http_request_duration_seconds` every 2 s, kept ten minutes.",
))
add("/console", "get", operation(
    "console", "strato", "The web console (HTML; its files under /console/…)",
    {"200": {"description": "The console's page, with a Content-Security-Policy allowing only its own files and API calls.", "content": {"text/html": {"schema": {"type": "string"}}}}, **errors("Tutorial", EDGE)},
    description="Never needs a token: its files hold no data; the page asks for a token and calls the API with it. `/console/` and `/console/{file}` serve the same page and its scripts, styles and icon (404 `text/plain` for any other file).",
    security=[],
))

add("/v1/embeddings", "post", operation(
    "openAiEmbeddingsRoot", "openai", "OpenAI-compatible embeddings at the host root (base_url http://host:port/v1)",
    {"200": ok_json(schema("OpenAiEmbeddingList"), "The embeddings in OpenAI's shape."), **errors("Oa", EDGE | TOKEN | SERVICE | BODY)},
    description="As `/client/v4/accounts/{account_id}/ai/v1/embeddings`, without an account: any valid token may use it.",
    body=OPENAI_BODY, limit="ai",
))

# The tutorial's Worker: on the binding's account, so a token must be allowed for it.
TUTORIAL_AUTH = PUBLIC_TUTORIAL.format(whom=" allowed for the binding's account (`--binding-account`)")
TUTORIAL_STATUSES = EDGE | TOKEN | SERVICE
add("/insert", "get", operation(
    "tutorialInsertStories", "tutorial", "The tutorial's /insert: embed the three stories, upsert them as ids 1..3 into the binding's index",
    {"200": ok_json(schema("Mutation"), "The upsert's mutation id (no envelope)."), **errors("Tutorial", TUTORIAL_STATUSES)},
    description=TUTORIAL_AUTH + " It writes, so in the open mode a browser's cross-site request of it (`<img src>`) is refused with 403.",
))
add("/insert", "post", operation(
    "tutorialInsertCustom", "tutorial", "Embed and upsert your own texts into the binding's index",
    {"200": ok_json(schema("Mutation"), "The upsert's mutation id (no envelope)."), **errors("Tutorial", TUTORIAL_STATUSES | BODY)},
    description=TUTORIAL_AUTH,
    body={"required": True, "description": "JSON (the Content-Type is not checked, but in the open mode a form's needs an `Authorization` header); unknown fields are rejected (400).", "content": {"application/json": {"schema": schema("TutorialInsertRequest")}}},
    limit="default",
))
add("/", "get", operation(
    "tutorialQuery", "tutorial", "The tutorial's query: embed the text, return the nearest stored vectors",
    {"200": ok_json(schema("TutorialMatches"), "`{\"matches\": {count, matches: [{id, score}]}}` (no envelope)."), **errors("Tutorial", TUTORIAL_STATUSES)},
    description="Served at `/` and, as in the tutorial's Worker, at EVERY path no other route takes (the router's fallback, any method), except `/favicon…` (404) and unknown paths under the API prefixes `/client/v4/…` and `/accounts/{account_id}/…` (404 code 7000). " + TUTORIAL_AUTH,
    params=[
        {"name": "text", "in": "query", "required": False, "description": "The query text; default (or empty) `orange cloud`.", "schema": {"type": "string"}},
        {"name": "topK", "in": "query", "required": False, "description": "How many matches, default 1 (absent or empty). Not a whole number: 400; above 100: 400 from index-svc; 0 is index-svc's own default, 5.",
         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1}},
    ],
))
add("/favicon.ico", "get", operation(
    "favicon", "tutorial", "The tutorial's Worker answers favicon requests with an empty 404",
    {"404": {"description": "Empty body.", "content": {"text/plain": {"schema": {"type": "string", "maxLength": 0}}}}, **errors("Tutorial", EDGE | TOKEN | {"400"})},
    description="Any path starting with `/favicon` gets the same answer (the fallback reads the query string first: one that does not decode, e.g. `text` twice, is 400). " + TUTORIAL_AUTH,
))
# The Worker bindings' backing protocols (gateway/src/routes/worker.rs; spec §1.6, §5.5).
BINDING_AUTH = "What workerd's `env.VECTORIZE` / `env.AI` send to their fetcher (README, \"Develop Workers locally against Strato\"); on the binding's account (`--binding-account`): with tokens configured, the forwarding worker sends one allowed for it."
BIX = {"name": "index", "in": "path", "required": True, "description": "The bound index's name (the tutorial's, `embeddings-index`, by default), in the binding's account.", "schema": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$", "example": "embeddings-index"}}
BINDING_STATUSES = EDGE | TOKEN | SERVICE
add("/__strato/binding/vectorize/{index}/info", "get", operation(
    "bindingDescribe", "bindings", "Vectorize binding: describe()",
    {"200": ok_json(schema("IndexInfo"), "The index's state (bare, no envelope)."), **errors("Binding", BINDING_STATUSES)},
    description=BINDING_AUTH, params=[BIX],
))
for op, summary, ok, body, limit in [
    ("query", "query(vector, options) and queryById(id, options)", ok_json(schema("QueryResult"), "`{count, matches}` (bare)."), json_body(schema("QueryRequest")), "query"),
    ("insert", "insert(vectors)", ok_json(schema("Mutation"), "`{mutationId}` (bare)."), upload_body, "upload"),
    ("upsert", "upsert(vectors)", ok_json(schema("Mutation"), "`{mutationId}` (bare)."), upload_body, "upload"),
    ("getByIds", "getByIds(ids)", ok_json({"type": "array", "items": schema("Vector")}, "The found vectors (bare)."), json_body(schema("IdsRequest")), "ids"),
    ("deleteByIds", "deleteByIds(ids)", ok_json(schema("Mutation"), "`{mutationId}` (bare)."), json_body(schema("IdsRequest")), "ids"),
]:
    add(f"/__strato/binding/vectorize/{{index}}/{op}", "post", operation(
        "binding" + op[0].upper() + op[1:], "bindings", "Vectorize binding: " + summary,
        {"200": ok, **errors("Binding", BINDING_STATUSES | BODY)},
        description=BINDING_AUTH + " The body is the REST API's for the same operation (the binding sends NDJSON with `cf-vector-search-dim-*` headers for writes).",
        params=[BIX], body=body, limit="upload",
    ))
add("/__strato/binding/ai/run", "post", operation(
    "bindingAiRun", "bindings", "AI binding: run(model, inputs, options)",
    {"200": ok_json(schema("AiRunResult"), "The model's output (bare); `cf-ai-req-id` is the request id."), **errors("Binding", BINDING_STATUSES | BODY)},
    description=BINDING_AUTH + " The model is the `cf-consn-model-id` header; the binding's own model (`--ai-model`) is served as the tutorial serves it (the packaged model where BGE is not installed). `options` is accepted and ignored.",
    params=[
        {"name": "version", "in": "query", "required": False, "description": "The binding's protocol version (3).", "schema": {"type": "string"}},
        {"name": "cf-consn-model-id", "in": "header", "required": True, "description": "The model, e.g. `@cf/baai/bge-base-en-v1.5`; an unknown one is 400 code 5007.", "schema": {"type": "string", "example": "@cf/baai/bge-base-en-v1.5"}},
    ],
    body={"required": True, "description": "`{inputs, options?}`: `inputs` is `/ai/run`'s body.", "content": {"application/json": {"schema": {"type": "object", "required": ["inputs"], "properties": {"inputs": schema("AiRunRequest"), "options": {"type": "object"}}}}}},
    limit="upload",
))
add("/__strato/binding/mf", "post", operation(
    "bindingMiniflareProxy", "bindings", "miniflare's remote-binding proxy: a binding call wrapped in MF-* headers",
    {"200": ok_json({"description": "What the call's own route answers (bare)."}, "The binding call's answer."), **errors("Binding", BINDING_STATUSES | BODY)},
    description=BINDING_AUTH + " miniflare (its `remoteProxyConnectionString`) sends every binding call here with the same method (GET for describe, which this document lists under POST only) and body: `MF-Binding` the binding's name, `MF-URL` the URL the binding called (`http://vector-search/<op>` or `https://workers-binding.ai/run?version=3`), and each of the binding's headers as `MF-Header-<name>`; the call is answered as on the routes above. A Vectorize binding's index is the query parameter named after the binding (`?VECTORIZE=embeddings-index`), else the binding's name. The WebSocket miniflare also opens (`Upgrade`) is declined with 426; neither binding uses it.",
    params=[
        {"name": "MF-Binding", "in": "header", "required": True, "description": "The binding's name.", "schema": {"type": "string", "example": "VECTORIZE"}},
        {"name": "MF-URL", "in": "header", "required": True, "description": "The URL the binding called.", "schema": {"type": "string", "example": "http://vector-search/info"}},
    ],
    body={"required": False, "description": "The binding call's body, as it sent it.", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    limit="upload",
))
add("/__strato/status", "get", operation(
    "status", "strato", "Which model the AI binding serves (and why, if it is the fallback), whether the embedder answers, the binding's index, the service endpoints",
    {
        "200": ok_json(
            {"oneOf": [schema("Status"), schema("PublicStatus")]},
            "`Status` for an authorised caller (a valid token, or anyone in the open mode); `PublicStatus` for anyone else with `--public-tutorial`. 200 also while the embedder does not answer (`healthy: false`).",
        ),
        **errors("Tutorial", EDGE | TOKEN),
    },
    description=PUBLIC_TUTORIAL.format(whom=" (any valid token)") + " With `--public-tutorial`, a caller without a valid token (none, or a wrong one) is not refused but sees only `PublicStatus`: the model names and whether the embedder answers, none of the internals.",
))
add("/openapi.json", "get", operation(
    "openapi", "strato", "This document",
    {"200": ok_json({"type": "object", "description": "OpenAPI 3.0.3."}, "The OpenAPI document."), **errors("Tutorial", EDGE)},
    description="Never needs a token (it holds no secrets).",
    security=[],
))

doc = {
    "openapi": "3.0.3",
    "info": {
        "title": "Strato gateway",
        "version": "0.1.0",
        "description": (
            "Self-hosted Cloudflare Vectorize (REST API v2) and Workers AI text embeddings, plus the Vectorize embeddings tutorial's Worker.\n\n"
            "- Cloudflare routes are served under `/client/v4/accounts/{account_id}/…` (SDK default base URL) and, identically, `/accounts/{account_id}/…` (base URL at the host root). "
            "They answer in Cloudflare's envelope `{result, success, errors: [{code, message}], messages: [{code, message}]}`; unknown paths under those prefixes are 404 code 7000 `No route for that URI`. "
            "The account segment must be 1 to 64 of `A-Z a-z 0-9 _ -`, as written (400 code 7003 otherwise).\n"
            "- `/v1/embeddings` and `…/ai/v1/embeddings` speak OpenAI's embeddings API, errors included (no envelope). Every other path answers errors as `{\"error\": \"…\"}`.\n"
            "- With tokens configured, API routes need `Authorization: Bearer <token>` (or `X-Auth-Key`): 401 without credentials, 403 for an unknown token or a token not allowed for the account (code 10000). "
            "The tutorial routes (`/`, `/insert`, any other path) need a token allowed for the binding's account, and `/__strato/status` any valid token, unless the gateway runs with `--public-tutorial` "
            "(then status shows internals only to a valid token). `/openapi.json` never needs one.\n"
            "- With no token configured (the open mode) the gateway listens on loopback only and answers 403 to a `Host` that is not a loopback name and to cross-site writes (a form's or no Content-Type without an `Authorization` header; a cross-site `GET /insert`).\n"
            "- Request bodies have a limit per route (in each operation's description, and as `x-strato-max-body-bytes`); beyond it 413, in the route's error shape.\n"
            "- At most `--max-concurrent-requests` (default 512) requests are served at once; beyond them any route answers 503 (code 1503 on Cloudflare routes) with `Retry-After: 1`. "
            "A service that is down or too slow is 503 too, an overloaded one 429, and an unexpected service error 500 `Internal error (request id …)`.\n"
            "- Every response carries `x-request-id` (the caller's, or a new UUID). With `--cors-origin` set, CORS headers are added for the listed origins and preflights are answered before auth."
        ),
    },
    "servers": [{"url": "http://127.0.0.1:8787", "description": "The default listen address (wrangler dev's port)."}],
    "tags": [
        {"name": "vectorize", "description": "Cloudflare Vectorize REST API v2."},
        {"name": "workers-ai", "description": "Cloudflare Workers AI: text embeddings."},
        {"name": "openai", "description": "OpenAI-compatible embeddings."},
        {"name": "tutorial", "description": "The Vectorize embeddings tutorial's Worker, on the configured bindings."},
        {"name": "bindings", "description": "The backing protocols of workerd's Vectorize and AI bindings, so a Worker runs unchanged against Strato."},
        {"name": "strato", "description": "Gateway introspection."},
    ],
    "paths": paths,
    "components": components,
}

json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write("\n")
