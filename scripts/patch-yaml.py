#!/usr/bin/env python3
"""Set nested scalar keys in a YAML file in place, keeping its comments and layout, so a config a
bridge generated (commented example) stays readable after run-local.sh points it at local peers.

Usage: patch-yaml.py FILE section.key=VALUE [section.sub.key=VALUE ...]
VALUE is written as a YAML scalar (JSON-quoted unless it is an integer or true/false).
Every key must already exist in FILE (block style, two-space indents); a missing one is an error.
"""
import json
import re
import sys


def fmt(value):
    if re.fullmatch(r"-?\d+|true|false", value):
        return value
    return json.dumps(value)


def set_key(lines, path, value):
    start, end, indent = 0, len(lines), 0
    for depth, key in enumerate(path):
        pat = re.compile(r"^" + " " * indent + re.escape(key) + r":(\s|$)")
        for i in range(start, end):
            if pat.match(lines[i]):
                break
        else:
            raise SystemExit(f"patch-yaml: key {'.'.join(path[:depth + 1])} not found")
        if depth == len(path) - 1:
            comment = ""
            m = re.search(r"\s+#.*$", lines[i])
            if m and not re.search(r":\s*[\"']", lines[i]):
                comment = m.group(0)
            lines[i] = " " * indent + key + ": " + fmt(value) + comment.rstrip("\n") + "\n"
            return
        # the block of this key: following lines indented deeper (or blank / comments)
        j = i + 1
        while j < end and (not lines[j].strip() or lines[j].lstrip().startswith("#")
                           or len(lines[j]) - len(lines[j].lstrip(" ")) > indent):
            j += 1
        start, end, indent = i + 1, j, indent + 2


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    path = sys.argv[1]
    with open(path) as f:
        lines = f.readlines()
    for arg in sys.argv[2:]:
        key, sep, value = arg.partition("=")
        if not sep:
            raise SystemExit(f"patch-yaml: expected key=value, got {arg!r}")
        set_key(lines, key.split("."), value)
    with open(path, "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
