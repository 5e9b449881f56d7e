#!/usr/bin/env python3
"""Cross-checks stamp's Rego evaluation (regorus) with a second engine
(rego-cpp's Python package, `regopy`) on the repo's own example.

The example is copied, changed so that its policies fire (an image from
another registry, one replica in prod), built once without policies so that
generated/ holds every target's objects, then built again with policies.
Every (policy, target, message) stamp denies must be exactly what regopy's
`data.main.deny` gives on that target's manifests, and the other way round.

usage: policy_crosscheck.py STAMP_BINARY [REPO]   (needs: pip install regopy pyyaml)
"""
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import regopy
import yaml


def stamp(binary, repo, *args):
    return subprocess.run([binary, "-C", str(repo), "--color", "never", *args], capture_output=True, text=True)


def targets(repo):
    """(service, env, region) -> input document of SPEC §5."""
    envs = yaml.safe_load((repo / "catalog/environments.yaml").read_text())["environments"]
    out = {}
    for manifests in sorted((repo / "generated").glob("*/*/*/manifests.yaml")):
        service, env, region = manifests.parts[-4:-1]
        team = yaml.safe_load((repo / f"catalog/services/{service}.yaml").read_text())["owners"]["team"]
        objects = [doc for doc in yaml.safe_load_all(manifests.read_text()) if doc is not None]
        out[(service, env, region)] = {
            "target": {
                "service": service,
                "env": env,
                "region": region,
                "team": team,
                "approval": envs[env].get("approval", "manual"),
            },
            "objects": objects,
        }
    return out


def regopy_denials(repo, policies):
    found = set()
    for (service, env, region), document in targets(repo).items():
        for policy in policies:
            rego = regopy.Interpreter()
            rego.add_module(policy.name, policy.read_text())
            rego.set_input_term(json.dumps(document))
            output = rego.query("data.main.deny")
            if not output.ok():
                sys.exit(f"regopy failed on {policy.name}: {output}")
            # `{"expressions":[[...messages]]}`, or no expressions when undefined.
            values = json.loads(str(output)).get("expressions") or [[]]
            for item in values[0]:
                message = item if isinstance(item, str) else item.get("msg", json.dumps(item))
                found.add((policy.stem, f"{service}/{env}/{region}", message))
    return found


def stamp_denials(binary, repo, rules):
    result = stamp(binary, repo, "--format", "json", "build", "--no-cache")
    report = json.loads(result.stdout)
    found = set()
    for error in report["errors"]:
        match = re.match(r"policy `([^`]+)`: (.*)", error["message"], re.S)
        if match and match.group(1) in rules:
            for target in error["targets"]:
                found.add((match.group(1), target, match.group(2)))
    return found


def main():
    binary = str(pathlib.Path(sys.argv[1]).resolve())
    source = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else ".").resolve()
    policies = sorted((source / "policies").glob("*.rego"))
    if not policies:
        sys.exit("no policies/*.rego to check")
    with tempfile.TemporaryDirectory() as tmp:
        repo = pathlib.Path(tmp)
        for name in ["stamp.yaml", "catalog", "archetypes", "components", "generated"]:
            (shutil.copytree if (source / name).is_dir() else shutil.copy)(source / name, repo / name)
        worker = repo / "catalog/services/email-sender.yaml"
        text = worker.read_text().replace("ghcr.io/acme/", "docker.io/acme/").replace("replicas: 4", "replicas: 1")
        worker.write_text(text)
        first = stamp(binary, repo, "build", "--no-cache")
        if first.returncode != 0:
            sys.exit(f"the example does not build without policies:\n{first.stderr}")
        shutil.copytree(source / "policies", repo / "policies")
        theirs = regopy_denials(repo, policies)
        ours = stamp_denials(binary, repo, {p.stem for p in policies})
    if not ours:
        sys.exit("stamp denied nothing: the changed example should break the policies")
    if ours != theirs:
        for line in sorted(ours - theirs):
            print("only stamp:", line)
        for line in sorted(theirs - ours):
            print("only regopy:", line)
        sys.exit(1)
    rules = sorted({rule for rule, _, _ in ours})
    print(f"policy crosscheck: stamp and regopy agree on {len(ours)} denials ({', '.join(rules)}) over {len(policies)} policies")


if __name__ == "__main__":
    main()
