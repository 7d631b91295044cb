#!/usr/bin/python3
"""Validates every message kind proto's encoders produce against proto/schema/v1.json, and
checks that the C command parser and the schema's $defs/command agree on which commands are
valid. Usage: test_schema.py PROTO_SAMPLES_EXE SCHEMA_JSON"""
import json
import sys

import jsonschema


def main():
    exe, schema_path = sys.argv[1], sys.argv[2]
    import subprocess
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    server = jsonschema.Draft202012Validator(schema)
    command = jsonschema.Draft202012Validator({**schema, "oneOf": None, "$ref": "#/$defs/command"}
                                              if False else
                                              {"$schema": schema["$schema"], "$defs": schema["$defs"],
                                               "$ref": "#/$defs/command"})
    failures = 0

    res = subprocess.run([exe], capture_output=True, check=False)
    if res.returncode != 0 or res.stderr:
        print("proto_samples failed:", res.returncode, res.stderr.decode(errors="replace"))
        return 1
    # raw bytes must be strict UTF-8 JSON, one message per line
    lines = res.stdout.decode("utf-8").splitlines()
    kinds = {}
    for line in lines:
        msg = json.loads(line)
        errs = list(server.iter_errors(msg))
        if errs:
            failures += 1
            print("INVALID:", line)
            for e in errs[:3]:
                print("   ", e.message)
        kinds[msg["type"]] = kinds.get(msg["type"], 0) + 1
        if msg["type"] == "frames":
            import base64
            raw = base64.b64decode(msg["data"], validate=True)
            if len(raw) != msg["n"] * msg["bands"]:
                failures += 1
                print("frames: %d bytes for n*bands=%d" % (len(raw), msg["n"] * msg["bands"]))
            if "gate" in msg and len(msg["gate"]) != msg["n"]:
                failures += 1
                print("frames: gate length", len(msg["gate"]), "!= n", msg["n"])
        if msg["type"] == "posteriors" and msg["top"] is not None:
            pass
    want = {"hello", "posteriors", "event", "status", "frames", "error", "pong", "ack"}
    if set(kinds) != want:
        failures += 1
        print("message kinds produced:", sorted(kinds), "expected", sorted(want))
    # the schema must reject what it should: a few hand-broken messages
    bad = [
        {"type": "posteriors", "seq": -1, "t": 0, "wall": "2026-11-23T14:00:00.120Z",
         "probs": [1], "speech": True, "top": "a", "conf": 1},
        {"type": "posteriors", "seq": 1, "t": 0, "wall": "yesterday",
         "probs": [1], "speech": True, "top": "a", "conf": 1},
        {"type": "hello", "protocol": 2},
        {"type": "mystery"},
        {"type": "event", "seq": 1, "t": 0, "wall": "2026-11-23T14:00:00.120Z", "label": "x",
         "state": "sideways", "held_s": 0, "prob": 0},
    ]
    for b in bad:
        if server.is_valid(b):
            failures += 1
            print("schema accepted a broken message:", b)

    res = subprocess.run([exe, "--commands"], capture_output=True, check=True)
    for line in res.stdout.decode("utf-8").splitlines():
        rc, text = line.split("\t", 1)
        c_ok = int(rc) == 0
        s_ok = command.is_valid(json.loads(text))
        if c_ok != s_ok:
            failures += 1
            print("parser says %s, schema says %s: %s" % (c_ok, s_ok, text))

    print("validated %d messages (%s); %d failure(s)" %
          (len(lines), ", ".join("%s=%d" % kv for kv in sorted(kinds.items())), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
