"""schemathesis hooks for Sluice (loaded with SCHEMATHESIS_HOOKS=sluice_hooks, from this folder).

- `application/x-ndjson` bodies are described in /openapi.json as the list of the lines' JSON values;
  the serializer sends them as NDJSON: one JSON value per line.
- Negative generation adds headers with any name. uWebSockets.js 20.30's parser never answers a request
  whose header names have characters outside A-Z a-z 0-9 and `-` (even `_` or `.`, legal in HTTP): it holds
  the connection ~12 s and closes it, before any Sluice code runs (pinned in test/api-contract.test.ts).
  Such requests are not sent; everything Sluice itself can see is.
"""
import json
import re

import schemathesis

UWS_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")


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
    return headers is None or all(UWS_HEADER_NAME.match(name) for name in headers)
