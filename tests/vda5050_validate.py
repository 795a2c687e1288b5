#!/usr/bin/env python3
"""Validates VDA 5050 messages against the official JSON schemas of 2.0.0 and 2.1.0.

usage: vda5050_validate.py [--own-version] SCHEMA_ROOT MESSAGE_DIR
Each file in MESSAGE_DIR is named <topic>[-anything].json (topic: order, instantActions,
state, connection, factsheet, visualization). Prints one line per failure; exit 1 if any.
Every message is checked against both versions' schemas; with --own-version, against the
schema of the version its header names only (2.0.x: 2.0.0, 2.1.x: 2.1.0), as a robot that
speaks that version reads it.
The 2.0.0 state schema has a trailing comma: it is repaired in memory, never on disk.
"""
import json
import pathlib
import re
import sys

try:
    # The Rust implementation validates ~100x faster; the goods-to-person test checks
    # thousands of orders.
    import jsonschema_rs
except ImportError:
    jsonschema_rs = None
    import jsonschema

def load_schema(path):
    text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))

def make_validator(schema):
    """A function from a message to its errors as (path, message) pairs."""
    if jsonschema_rs is not None:
        v = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
        return lambda m: [("/".join(str(p) for p in e.instance_path), e.message) for e in v.iter_errors(m)]
    v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return lambda m: [("/".join(str(p) for p in e.absolute_path), e.message) for e in v.iter_errors(m)]

def main():
    args = sys.argv[1:]
    own_version = "--own-version" in args
    args = [a for a in args if a != "--own-version"]
    root, messages = pathlib.Path(args[0]), pathlib.Path(args[1])
    failures, checked = [], 0
    validators = {}
    for file in sorted(messages.glob("*.json")):
        topic = file.stem.split("-")[0]
        message = json.loads(file.read_text())
        versions = ("2.0.0", "2.1.0")
        if own_version:
            named = str(message.get("version", ""))
            versions = [v for v in versions if named.split(".")[:2] == v.split(".")[:2]]
            if not versions:
                failures.append(f"{file.name}: version {named!r} is neither 2.0 nor 2.1")
                continue
        for version in versions:
            # One validator per schema: building one costs far more than a validation.
            if (topic, version) not in validators:
                schema = load_schema(root / version / f"{topic}.schema")
                validators[(topic, version)] = make_validator(schema)
            for path, error in validators[(topic, version)](message):
                failures.append(f"{file.name} vs {version}: {path}: {error}")
            checked += 1
    for f in failures:
        print(f)
    print(f"{checked} validations, {len(failures)} failures")
    sys.exit(1 if failures else 0)

if __name__ == "__main__":
    main()
