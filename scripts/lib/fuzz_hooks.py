"""Schemathesis hooks for scripts/fuzz-api (loaded through SCHEMATHESIS_HOOKS=fuzz_hooks).

`POST /v1/scenarios/run` takes a scenario as `application/toml` text; schemathesis has no
serializer for that media type, so it goes on the wire as plain text, like any other string body.
"""

import schemathesis

schemathesis.serializer.alias("application/toml", "text/plain")
