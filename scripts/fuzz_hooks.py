"""schemathesis hooks of scripts/fuzz.sh, and its verdict on a role's run.

While schemathesis runs (loaded through scripts/fuzz.toml):

- Calls that would take a role away from the accounts the run signs in with are aimed at
  another id: deactivating one of them or setting its global roles (`/admin/users/{id}/...`),
  and a lead changing or removing its membership (`/groups/{slug}/members/{user_id}`). The
  operations are still fuzzed, on every other account (FUZZ_PROTECTED_IDS lists the five).
- Every answer is written down (FUZZ_CALLS, one JSON line per call): the operation, the status,
  and whether the request carried the role's own token (FUZZ_TOKEN).

After the run, `python fuzz_hooks.py verdict CALLS ROLE` reads those lines and fails when the
token was refused (any 401 to a request that carried it) or never served (no 2xx to a request
that carried it on an operation that needs it): a run in which every call was turned away for
auth proves nothing, and schemathesis alone would pass it.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

GUARDED = {
    ("PUT", "/api/v1/admin/users/{id}/roles"): "id",
    ("POST", "/api/v1/admin/users/{id}/deactivate"): "id",
    ("PATCH", "/api/v1/groups/{slug}/members/{user_id}"): "user_id",
    ("DELETE", "/api/v1/groups/{slug}/members/{user_id}"): "user_id",
}

# Ids of nobody: a stable substitute for each protected id.
ELSEWHERE = uuid.UUID("6f8c1f7e-0000-4000-8000-00000000f022")


def _protected() -> set[str]:
    return {i.strip().lower() for i in os.environ.get("FUZZ_PROTECTED_IDS", "").split(",") if i.strip()}


if __name__ != "__main__":
    import schemathesis

    PROTECTED = _protected()
    TOKEN = os.environ.get("FUZZ_TOKEN", "")
    CALLS = os.environ.get("FUZZ_CALLS")

    @schemathesis.hook
    def before_call(context, case, kwargs):
        name = GUARDED.get((case.operation.method.upper(), case.operation.path))
        if name is None or not isinstance(case.path_parameters, dict):
            return
        value = case.path_parameters.get(name)
        if isinstance(value, str) and value.strip().lower() in PROTECTED:
            case.path_parameters[name] = str(uuid.uuid5(ELSEWHERE, value))

    @schemathesis.hook
    def after_call(context, case, response):
        if not CALLS:
            return
        sent = response.request.headers.get("Authorization", "")
        line = {
            "operation": f"{case.operation.method.upper()} {case.operation.path}",
            "secured": bool(case.operation.definition.raw.get("security")),
            "status": response.status_code,
            "with_token": bool(TOKEN) and sent == f"Bearer {TOKEN}",
        }
        with open(CALLS, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


def verdict(path: str, role: str) -> int:
    calls = []
    with open(path, encoding="utf-8") as lines:
        calls = [json.loads(line) for line in lines if line.strip()]
    with_token = [c for c in calls if c["with_token"] and c["secured"]]
    served = [c for c in with_token if 200 <= c["status"] < 300]
    refused = [c for c in with_token if c["status"] == 401]
    operations = {c["operation"] for c in calls}
    print(
        f"fuzz {role}: {len(calls)} calls to {len(operations)} operations; "
        f"{len(with_token)} with the role's token, {len(served)} of them served (2xx), "
        f"{len(refused)} refused for auth (401)"
    )
    failed = False
    if not served:
        print(f"fuzz {role}: FAILED: no call with the role's token was served", file=sys.stderr)
        failed = True
    if refused:
        names = sorted({c["operation"] for c in refused})
        print(f"fuzz {role}: FAILED: the role's token was refused by {', '.join(names)}", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "verdict":
        print("usage: fuzz_hooks.py verdict CALLS ROLE", file=sys.stderr)
        sys.exit(2)
    sys.exit(verdict(sys.argv[2], sys.argv[3]))
