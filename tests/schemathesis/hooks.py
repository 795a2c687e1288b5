"""Schemathesis hooks for the OpenAPI runs against tote-central and tote-edge
(tests/tests/e2e/openapi.rs). They add what a JSON Schema cannot say, never relax a check:

- `format: gtin` strings carry a valid GS1 mod-10 check digit in positive cases (the
  documents name the format; a regular expression for the check digit would be unreadable),
  and `format: gs1-scan` strings are such GTINs (the simplest scan the grammar takes).
- Each positive case gets a fresh Idempotency-Key: the same key with another request is a 422
  by design (draft-ietf-httpapi-idempotency-key-header), so a generator that reuses a drawn key
  for different requests would test that rule, not the request.
- A positive replacement of the test warehouse's edge token (`POST
  /api/v1/warehouses/SH-01/edge-token`, which the examples reach: `SH-01` is the documented
  example of a warehouse code) sets the token the run was given (TOTE_EDGE_TOKEN) again, so the
  sync operations that run after it still authenticate as that edge. The request is as valid
  as the one drawn and goes through every check; only the secret is not a random one.
- A positive push (`POST /api/v1/sync/events`) is sent as the edge the token belongs to
  (`warehouse` = SH-01): a push in another warehouse's name is a 403 whatever it carries, so
  without this the stream rule (200, or the 409s `sync-gap` and `sync-ahead`) is never reached.
"""
import os
import uuid

import schemathesis
from hypothesis import strategies as st


def gs1_check_digit(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


gtins = st.sampled_from([7, 11, 12, 13]).flatmap(
    lambda n: st.text("0123456789", min_size=n, max_size=n)
).map(lambda body: body + gs1_check_digit(body))

schemathesis.openapi.format("gtin", gtins)
# A scan (`format: gs1-scan`): its simplest valid form, a plain GTIN.
schemathesis.openapi.format("gs1-scan", gtins)


@schemathesis.hook
def map_case(ctx, case):
    meta = case.meta
    headers = case.headers or {}
    positive = meta is not None and meta.generation.mode.is_positive
    if "Idempotency-Key" in headers and positive:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    edge_token = os.environ.get("TOTE_EDGE_TOKEN")
    if (
        positive
        and edge_token
        and case.operation.path == "/api/v1/warehouses/{code}/edge-token"
        and (case.path_parameters or {}).get("code") == "SH-01"
        and isinstance(case.body, dict)
    ):
        case.body["edge_token"] = edge_token
    if positive and case.operation.path == "/api/v1/sync/events" and isinstance(case.body, dict) and "warehouse" in case.body:
        case.body["warehouse"] = "SH-01"
    return case
