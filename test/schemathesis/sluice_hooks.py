"""schemathesis hooks for Sluice (loaded with SCHEMATHESIS_HOOKS=sluice_hooks, from this folder).

- `application/x-ndjson` bodies are described in /openapi.json as the list of the lines' JSON values;
  the serializer sends them as NDJSON: one JSON value per line.
- Negative generation adds headers with any name. uWebSockets.js 20.57's parser answers a request whose
  header names are not HTTP tokens (RFC 9110: `!#$%&'*+-.^_`|~`, digits, letters; e.g. `@`, a space or a
  non-ASCII letter) with its own plain `400 Bad Request`, before any Sluice code runs (pinned in
  test/api-routes.test.ts). Such requests are not sent; everything Sluice itself can see is.
"""
import json
import re

import schemathesis

HTTP_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    values = value if isinstance(value, list) else [value]
    return "".join(json.dumps(v) + "\n" for v in values).encode("utf-8")


@schemathesis.hook
def filter_headers(ctx, headers):
    return headers is None or all(HTTP_TOKEN.match(name) for name in headers)
