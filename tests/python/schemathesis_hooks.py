"""Schemathesis hooks for tests/tests/openapi.rs (loaded through SCHEMATHESIS_HOOKS).

The gateway's insert/upsert routes take raw NDJSON (`application/x-ndjson`, `application/ndjson`),
for which schemathesis has no serializer: send the generated string as is, like text/plain.
"""
import schemathesis

schemathesis.serializer.alias(["application/x-ndjson", "application/ndjson"], "text/plain")
