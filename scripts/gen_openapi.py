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
            "description": "The account: index-svc keeps each account's indexes apart. Cloudflare's are 32 hex digits; the gateway accepts any id index-svc does (ASCII letters, digits, '-' and '_', at most 64 bytes); others are rejected with 400 (create) or 404 (index not found).",
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
            "description": "Cloudflare's failure envelope. Codes: 10000 authentication; 7000 no route; 3000 index not found; 3001 invalid config or name; 3002 duplicate name; 40003 bad request; 40004 vector not found; 40005 metadata index not found; 40006 invalid query vector; 40008 id too long; 40012 invalid vector; 40023 unparsable vectors; 40025 topK too large; 40026 bad JSON body or content type; 40041 too many requests; 5006 AI bad input; 5007 no such model; 3040 AI capacity exceeded; 1503 service unavailable; 1000 internal error.",
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
            "required": ["text"],
            "properties": {
                "text": {
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "minLength": 1}},
                    ]
                },
                "pooling": {"type": "string", "enum": ["mean", "cls"], "description": "Default: the model's (mean for BGE)."},
            },
            "example": {"text": ["This is a story about an orange cloud", "This is a story about a llama"]},
        },
        "AiRunResult": {
            "type": "object",
            "required": ["shape", "data", "pooling"],
            "properties": {
                "shape": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "integer", "minimum": 0}, "description": "[texts, dimensions]"},
                "data": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                "pooling": {"type": "string", "enum": ["mean", "cls"]},
            },
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
                "dimensions": {"type": "integer", "minimum": 1, "description": "Accepted only when equal to the model's dimensions (400 otherwise)."},
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
        "ApiError": {
            "type": "object",
            "description": "The tutorial routes' error body. Errors from a service also carry the gRPC code and the service.",
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
                "texts": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string"}, "description": "Embedded with the AI binding's model in one call (the embedder takes at most 100)."},
                "ids": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}, "description": "As many as texts (400 otherwise); default \"1\", \"2\", …"},
            },
            "example": {"texts": ["A recipe for sourdough bread", "Notes on Rust's borrow checker"], "ids": ["bread", "rust"]},
        },
        "Status": {
            "type": "object",
            "required": ["ai", "vectorize", "embedder", "index"],
            "properties": {
                "ai": {
                    "type": "object",
                    "description": "The model the AI binding serves: {requested, serving, dimensions, fallback, reason}, or {requested, error} while the embedder does not answer.",
                    "required": ["requested"],
                    "properties": {
                        "requested": {"type": "string"},
                        "serving": {"type": "string"},
                        "dimensions": {"type": "integer"},
                        "fallback": {"type": "boolean"},
                        "reason": {"type": "string", "nullable": True},
                        "error": {"type": "string"},
                    },
                },
                "vectorize": {
                    "type": "object",
                    "required": ["index_name", "account"],
                    "properties": {"index_name": {"type": "string"}, "account": {"type": "string"}},
                },
                "embedder": {"type": "array", "items": {"type": "string"}},
                "index": {"type": "string"},
            },
        },
    },
    "responses": {},
}


def cf_error(desc):
    return {"description": desc, "content": {"application/json": {"schema": schema("CfError")}}}


def oa_error(desc):
    return {"description": desc, "content": {"application/json": {"schema": schema("OpenAiError")}}}


def api_error(desc):
    return {"description": desc, "content": {"application/json": {"schema": schema("ApiError")}}}


R = components["responses"]
R["CfBadRequest"] = {
    "description": "Bad request (envelope; codes 3001, 3002, 40003, 40006, 40008, 40012, 40023, 40025, 40026, 5006, 5007). A path or query string the router cannot decode (e.g. invalid UTF-8 after percent-decoding) is answered by axum in plain text.",
    "content": {"application/json": {"schema": schema("CfError")}, "text/plain": {"schema": {"type": "string"}}},
}
R["CfUnauthorized"] = cf_error("No credentials: code 10000 `Authentication error`.")
R["CfForbidden"] = cf_error("Unknown token, or a token not allowed for the account: code 10000 `Authentication error`.")
R["CfNotFound"] = cf_error("Not found: code 3000 (index), 40004 (vector id), 40005 (metadata index).")
R["CfTooManyRequests"] = cf_error("index-svc is overloaded: code 40041 (Vectorize), 3040 (Workers AI).")
R["CfUnavailable"] = cf_error("A service is down or too slow: code 1503, please retry.")
R["CfInternal"] = cf_error("Unexpected service error: code 1000.")
R["PayloadTooLarge"] = {
    "description": "Body over the route's limit, answered by axum in plain text: 101 MiB on the Vectorize routes (100 MB of vectors plus multipart framing), 2 MiB (axum's default) on the others.",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}
R["OaBadRequest"] = oa_error("Invalid request, or the embedder rejected the input.")
R["OaUnauthorized"] = oa_error("No credentials (`Authentication error`).")
R["OaForbidden"] = oa_error("Unknown token (`Authentication error`).")
R["OaNotFound"] = oa_error("Unknown or unloaded model.")
R["OaTooManyRequests"] = oa_error("Embedder over capacity.")
R["OaUnavailable"] = oa_error("Embedder down or too slow (type server_error).")
R["OaInternal"] = oa_error("Unexpected embedder error (type server_error).")
R["TutorialError"] = {
    "description": "An error of a tutorial route. Status by cause: 400 bad input (or the binding's model not loaded), 404 the binding's index is missing, 429 a service is overloaded, 503 a service is down or too slow, 500 unexpected. A query string axum cannot decode is answered in plain text.",
    "content": {"application/json": {"schema": schema("ApiError")}, "text/plain": {"schema": {"type": "string"}}},
}

SECURITY = [{"bearerAuth": []}, {"xAuthKey": []}]
CF_ERRORS = {
    "400": ref("responses", "CfBadRequest"),
    "401": ref("responses", "CfUnauthorized"),
    "403": ref("responses", "CfForbidden"),
    "404": ref("responses", "CfNotFound"),
    "429": ref("responses", "CfTooManyRequests"),
    "500": ref("responses", "CfInternal"),
    "503": ref("responses", "CfUnavailable"),
}
OA_ERRORS = {
    "400": ref("responses", "OaBadRequest"),
    "401": ref("responses", "OaUnauthorized"),
    "403": ref("responses", "OaForbidden"),
    "404": ref("responses", "OaNotFound"),
    "429": ref("responses", "OaTooManyRequests"),
    "500": ref("responses", "OaInternal"),
    "503": ref("responses", "OaUnavailable"),
}
TUTORIAL_ERRORS = {code: ref("responses", "TutorialError") for code in ["400", "404", "429", "500", "503"]}

paths = {}


def add(path, method, op):
    paths.setdefault(path, {})[method] = op


def cf_op(op_id, alias, summary, tag, params, ok, body=None, extra_responses=None, description=None):
    o = {
        "operationId": op_id + alias,
        "tags": [tag],
        "summary": summary + (" (alias without /client/v4)" if alias else ""),
        "security": SECURITY,
        "parameters": params,
        "responses": {"200": ok, **CF_ERRORS, **(extra_responses or {})},
    }
    if description:
        o["description"] = description
    if body is not None:
        o["requestBody"] = body
    return o


ACC = ref("parameters", "AccountId")
IDX = ref("parameters", "IndexName")

upload_body = {
    "required": True,
    "description": "The vectors, by Content-Type: raw NDJSON (`application/x-ndjson` or `application/ndjson`); `multipart/form-data` with the NDJSON in the part named `vectors` (wrangler); or `application/json` as `{\"vectors\": [...]}`, a bare array, a JSON string holding NDJSON, a single vector object, or NDJSON labelled as JSON (the Python SDK). Any other Content-Type is 400 code 40026 `vectorize.unknown_content_type`; a line that is not a vector is 400 code 40023.",
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
        json_body(schema("CreateIndexRequest"), description="Content-Type must be application/json (400 code 40026 otherwise)."),
    ))
    add(ix, "get", cf_op("getIndex", alias, "Get an index", "vectorize", [ACC, IDX], ok_json(envelope(schema("Index"), "The index."))))
    add(ix, "delete", cf_op("deleteIndex", alias, "Delete an index and its vectors", "vectorize", [ACC, IDX],
                            ok_json(envelope({"type": "object", "nullable": True, "enum": [None], "description": "Always null."}, "Deleted."))))
    add(f"{ix}/info", "get", cf_op("indexInfo", alias, "Describe an index (dimensions, vector count, last mutation)", "vectorize", [ACC, IDX],
                                   ok_json(envelope(schema("IndexInfo"), "The index's state."))))
    for op, summary in [("insert", "Insert vectors (existing ids are kept)"), ("upsert", "Upsert vectors (existing ids are replaced)")]:
        add(f"{ix}/{op}", "post", cf_op(
            op + "Vectors", alias, summary, "vectorize", [ACC, IDX, ref("parameters", "UnparsableBehavior")],
            ok_json(envelope(schema("Mutation"), "The mutation.")), upload_body,
            {"413": ref("responses", "PayloadTooLarge")},
        ))
    add(f"{ix}/query", "post", cf_op(
        "queryVectors", alias, "Nearest neighbours of a vector or a stored vector's id", "vectorize", [ACC, IDX],
        ok_json(envelope(schema("QueryResult"), "Matches, best first; index-svc's warnings as messages (code 1000).")),
        json_body(schema("QueryRequest"), description="Content-Type must be application/json (400 code 40026 otherwise)."),
    ))
    add(f"{ix}/get_by_ids", "post", cf_op(
        "getByIds", alias, "Get vectors by id (missing ids are left out)", "vectorize", [ACC, IDX],
        ok_json(envelope({"type": "array", "items": schema("Vector")}, "The found vectors.")),
        json_body(schema("IdsRequest"), description="Content-Type must be application/json (400 code 40026 otherwise)."),
    ))
    add(f"{ix}/delete_by_ids", "post", cf_op(
        "deleteByIds", alias, "Delete vectors by id", "vectorize", [ACC, IDX],
        ok_json(envelope(schema("Mutation"), "The mutation.")),
        json_body(schema("IdsRequest"), description="Content-Type must be application/json (400 code 40026 otherwise)."),
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
        json_body(schema("CreateMetadataIndexRequest"), description="Content-Type must be application/json (400 code 40026 otherwise)."),
    ))
    add(f"{ix}/metadata_index/list", "get", cf_op(
        "listMetadataIndexes", alias, "List the metadata indexes", "vectorize", [ACC, IDX],
        ok_json(envelope(schema("MetadataIndexList"), "The metadata indexes.")),
    ))
    add(f"{ix}/metadata_index/delete", "post", cf_op(
        "deleteMetadataIndex", alias, "Delete a metadata index (unknown property: 404 code 40005)", "vectorize", [ACC, IDX],
        ok_json(envelope(schema("Mutation"), "The mutation.")),
        json_body(schema("DeleteMetadataIndexRequest"), description="Content-Type must be application/json (400 code 40026 otherwise)."),
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

for prefix, alias in CF_PREFIXES:
    add(f"{prefix}/ai/run/{{model}}", "post", cf_op(
        "aiRun", alias, "Workers AI: run a text-embeddings model", "workers-ai", [ACC, MODEL_PARAM],
        ok_json(envelope(schema("AiRunResult"), "The embeddings (pooling always echoed).")),
        {"required": True, "description": "JSON (the Content-Type is not checked). Anything else than the schema is 400 code 5006 `AiError: Bad input: …`; async batch requests (`{\"requests\": [...]}`) are not supported (5006).",
         "content": {"application/json": {"schema": schema("AiRunRequest")}}},
        description="The account id is checked against the token and otherwise ignored (one embedder serves every account).",
    ))
    del paths[f"{prefix}/ai/run/{{model}}"]["post"]["responses"]["404"]  # unknown models are 400 code 5007
    op = cf_op(
        "openAiEmbeddings", alias, "OpenAI-compatible embeddings (Workers AI's /ai/v1 path)", "openai", [ACC],
        ok_json(schema("OpenAiEmbeddingList"), "The embeddings in OpenAI's shape (no envelope)."),
        {"required": True, "description": "JSON (the Content-Type is not checked).", "content": {"application/json": {"schema": schema("OpenAiEmbeddingsRequest"), "examples": OPENAI_EXAMPLES}}},
        description="OpenAI's request and response shapes and OpenAI-shaped errors (no Cloudflare envelope), auth errors included.",
    )
    op["responses"] = {"200": op["responses"]["200"], **OA_ERRORS}
    add(f"{prefix}/ai/v1/embeddings", "post", op)

add("/v1/embeddings", "post", {
    "operationId": "openAiEmbeddingsRoot",
    "tags": ["openai"],
    "summary": "OpenAI-compatible embeddings at the host root (base_url http://host:port/v1)",
    "description": "As `/client/v4/accounts/{account_id}/ai/v1/embeddings`, without an account: any valid token may use it.",
    "security": SECURITY,
    "requestBody": {"required": True, "description": "JSON (the Content-Type is not checked).", "content": {"application/json": {"schema": schema("OpenAiEmbeddingsRequest"), "examples": OPENAI_EXAMPLES}}},
    "responses": {"200": ok_json(schema("OpenAiEmbeddingList"), "The embeddings in OpenAI's shape."), **OA_ERRORS},
})

# Tutorial, status, document: no auth.
add("/insert", "get", {
    "operationId": "tutorialInsertStories",
    "tags": ["tutorial"],
    "summary": "The tutorial's /insert: embed the three stories, upsert them as ids 1..3 into the binding's index",
    "security": [],
    "responses": {"200": ok_json(schema("Mutation"), "The upsert's mutation id (no envelope)."), **TUTORIAL_ERRORS},
})
add("/insert", "post", {
    "operationId": "tutorialInsertCustom",
    "tags": ["tutorial"],
    "summary": "Embed and upsert your own texts into the binding's index",
    "security": [],
    "requestBody": {"required": True, "description": "JSON (the Content-Type is not checked); unknown fields are rejected (400).", "content": {"application/json": {"schema": schema("TutorialInsertRequest")}}},
    "responses": {"200": ok_json(schema("Mutation"), "The upsert's mutation id (no envelope)."), **TUTORIAL_ERRORS},
})
add("/", "get", {
    "operationId": "tutorialQuery",
    "tags": ["tutorial"],
    "summary": "The tutorial's query: embed the text, return the nearest stored vectors",
    "description": "Served at `/` and, as in the tutorial's Worker, at EVERY path no other route takes (the router's fallback, any method), except `/favicon…` (404) and unknown paths under the API prefixes `/client/v4/…` and `/accounts/{account_id}/…` (404 code 7000).",
    "security": [],
    "parameters": [
        {"name": "text", "in": "query", "required": False, "description": "The query text; default (or empty) `orange cloud`.", "schema": {"type": "string"}},
        {"name": "topK", "in": "query", "required": False, "description": "How many matches, default 1. Not a whole number: 400; above 100: 400 from index-svc.",
         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1}},
    ],
    "responses": {"200": ok_json(schema("TutorialMatches"), "`{\"matches\": {count, matches: [{id, score}]}}` (no envelope)."), **TUTORIAL_ERRORS},
})
add("/favicon.ico", "get", {
    "operationId": "favicon",
    "tags": ["tutorial"],
    "summary": "The tutorial's Worker answers favicon requests with an empty 404",
    "description": "Any path starting with `/favicon` gets the same answer.",
    "security": [],
    "responses": {"404": {"description": "Empty body."}},
})
add("/__strato/status", "get", {
    "operationId": "status",
    "tags": ["strato"],
    "summary": "Which model the AI binding serves (and why, if it is the fallback), the binding's index, the service endpoints",
    "security": [],
    "responses": {"200": ok_json(schema("Status"), "The gateway's status.")},
})
add("/openapi.json", "get", {
    "operationId": "openapi",
    "tags": ["strato"],
    "summary": "This document",
    "security": [],
    "responses": {"200": ok_json({"type": "object", "description": "OpenAPI 3.0.3."}, "The OpenAPI document.")},
})

for item in paths.values():
    for op in item.values():
        if "requestBody" in op:
            op["responses"]["413"] = ref("responses", "PayloadTooLarge")

doc = {
    "openapi": "3.0.3",
    "info": {
        "title": "Strato gateway",
        "version": "0.1.0",
        "description": (
            "Self-hosted Cloudflare Vectorize (REST API v2) and Workers AI text embeddings, plus the Vectorize embeddings tutorial's Worker.\n\n"
            "- Cloudflare routes are served under `/client/v4/accounts/{account_id}/…` (SDK default base URL) and, identically, `/accounts/{account_id}/…` (base URL at the host root). "
            "They answer in Cloudflare's envelope `{result, success, errors: [{code, message}], messages: [{code, message}]}`; unknown paths under those prefixes are 404 code 7000 `No route for that URI`.\n"
            "- `/v1/embeddings` and `…/ai/v1/embeddings` speak OpenAI's embeddings API (no envelope).\n"
            "- API routes need `Authorization: Bearer <token>` (or `X-Auth-Key`) when tokens are configured: 401 without credentials, 403 for an unknown token or a token not allowed for the account (code 10000).\n"
            "- The tutorial routes (`/`, `/insert`), `/__strato/status` and `/openapi.json` need no token.\n"
            "- Every response carries `x-request-id` (the caller's, or a new UUID). With `--cors-origin` set, CORS headers are added for the listed origins and preflights are answered before auth."
        ),
    },
    "servers": [{"url": "http://127.0.0.1:8787", "description": "The default listen address (wrangler dev's port)."}],
    "tags": [
        {"name": "vectorize", "description": "Cloudflare Vectorize REST API v2."},
        {"name": "workers-ai", "description": "Cloudflare Workers AI: text embeddings."},
        {"name": "openai", "description": "OpenAI-compatible embeddings."},
        {"name": "tutorial", "description": "The Vectorize embeddings tutorial's Worker, on the configured bindings."},
        {"name": "strato", "description": "Gateway introspection."},
    ],
    "paths": paths,
    "components": components,
}

json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write("\n")
