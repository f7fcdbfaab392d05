#!/usr/bin/env python3
"""Fails when a module of `src/` uses a module above it in the layer order (docs/architecture.md).

A module may use modules of a lower rank and its own submodules, never one of its own rank
(peers, such as two front doors) or above. Run by .ci/run.
"""
import pathlib
import re
import sys

RANKS = {
    # leaves
    "error": 0,
    "config": 1, "text": 1, "paging": 1, "patch": 1, "instant": 1, "csv": 1, "whole": 1,
    "telemetry": 2,
    "audit": 2, "metrics": 2, "db": 2,
    # accounts, then auth
    "accounts": 10,
    "auth": 11,
    # domains, in the order they build on each other
    "groups": 20, "events": 21, "mentoring": 22, "reports": 23,
    # the lifecycle that ends memberships, RSVPs and mentoring together; demo data
    "lifecycle": 30,
    "seed": 31,
    "state": 40,
    # front doors: peers, none uses another
    "api": 50, "web": 50, "scim": 50,
    "startup": 60,
}

USE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")

def top_module(path: pathlib.Path, src: pathlib.Path) -> str | None:
    rel = path.relative_to(src)
    if rel.parts == ("lib.rs",) or rel.parts == ("main.rs",):
        return None
    return rel.parts[0].removesuffix(".rs")

def main() -> int:
    src = pathlib.Path(__file__).resolve().parent.parent / "src"
    problems = []
    for path in sorted(src.rglob("*.rs")):
        module = top_module(path, src)
        if module is None:
            continue
        if module not in RANKS:
            problems.append(f"{path.relative_to(src.parent)}: module `{module}` has no place in the layer order "
                            "(add it to scripts/check-layers.py and docs/architecture.md)")
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("//"):
                continue
            if "crate::{" in line:
                problems.append(f"{path.relative_to(src.parent)}:{lineno}: write one `use crate::module::…` "
                                "per module, so this check can read it")
            for used in USE.findall(line):
                if used == module:
                    continue
                if used not in RANKS:
                    problems.append(f"{path.relative_to(src.parent)}:{lineno}: uses unknown module `{used}`")
                elif RANKS[used] >= RANKS[module]:
                    problems.append(f"{path.relative_to(src.parent)}:{lineno}: `{module}` uses `{used}`, "
                                    "which is not below it in the layer order")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} import(s) against the layer order", file=sys.stderr)
        return 1
    print("layer order: every import points down")
    return 0

if __name__ == "__main__":
    sys.exit(main())
