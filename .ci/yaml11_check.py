"""Reads every generated YAML file with PyYAML, a YAML 1.1 reader as
Kubernetes tooling is, and fails if a value that must be a string (labels,
annotations, ConfigMap data, env values, image) reads as anything else:
the Norway problem (`NO` -> false, `0755` -> 493)."""

import pathlib
import sys

import yaml


def strings_only(where, mapping, problems):
    for key, value in (mapping or {}).items():
        if not isinstance(value, str):
            problems.append(f"{where}.{key} reads as {type(value).__name__} {value!r} under YAML 1.1")


def check(path, problems):
    for doc in yaml.safe_load_all(path.read_text()):
        if not isinstance(doc, dict):
            continue
        where = f"{path}: {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        meta = doc.get("metadata", {})
        strings_only(where + " labels", meta.get("labels"), problems)
        strings_only(where + " annotations", meta.get("annotations"), problems)
        if doc.get("kind") == "ConfigMap":
            strings_only(where + " data", doc.get("data"), problems)


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "generated")
    problems = []
    files = sorted(root.rglob("*.yaml"))
    for path in files:
        check(path, problems)
    for problem in problems:
        print(problem)
    print(f"checked {len(files)} files under YAML 1.1: {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
