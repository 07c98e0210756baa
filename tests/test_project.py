"""The project's set-up stays consistent: pyproject, environment.yml, Makefile, CI, book config."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _env_pip_lines():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "environment.yml needs exactly one pip section"
    return env, pip[0]["pip"]


def test_environment_yml_installs_the_package_with_the_makefile_extras():
    _, pip_lines = _env_pip_lines()
    installs = [ln for ln in pip_lines if re.match(r"^(-e\s+)?\.\[", ln)]
    assert installs, "environment.yml must pip-install the package itself"
    extras = set(re.search(r"\[(.*)\]", installs[0]).group(1).split(","))
    declared = set(_pyproject()["project"]["optional-dependencies"])
    assert extras <= declared, f"environment.yml names extras {extras - declared} that pyproject lacks"
    make_extras = set(re.search(r'-e "\.\[(.*?)\]"', (ROOT / "Makefile").read_text()).group(1).split(","))
    assert extras == make_extras, "environment.yml and the Makefile must install the same extras"


def test_environment_python_satisfies_requires_python():
    env, _ = _env_pip_lines()
    py = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    major, minor = map(int, py.split("=")[-1].split(".")[:2])
    floor = _pyproject()["project"]["requires-python"].removeprefix(">=")
    assert (major, minor) >= tuple(map(int, floor.split("."))), (py, floor)


def test_environment_lists_no_package_outside_pyproject():
    env, pip_lines = _env_pip_lines()
    conda_pkgs = {re.split(r"[=<>]", d)[0] for d in env["dependencies"] if isinstance(d, str)}
    assert conda_pkgs <= {"python", "pip"}, f"conda packages {conda_pkgs} would drift from pyproject.toml"
    assert all(ln.startswith("-e .[") or ln.startswith(".[") for ln in pip_lines)


def test_dependencies_keep_loose_floors():
    deps = _pyproject()["project"]["dependencies"]
    torch = [d for d in deps if d.startswith("torch")]
    assert torch == ["torch>=2.2"], "declare only a loose torch floor so Colab keeps its own torch"
    book = _pyproject()["project"]["optional-dependencies"]["book"]
    assert any(d.startswith("jupyter-book>=1.0.4,<2") for d in book)
    for extra in ("sphinx-exercise", "ipykernel"):
        assert any(d.startswith(extra) for d in book)
    test = _pyproject()["project"]["optional-dependencies"]["test"]
    for extra in ("pytest", "nbmake", "ruff"):
        assert any(d.startswith(extra) for d in test)


def test_ci_runs_make_test_and_make_handles_no_tests():
    assert "make test" in (ROOT / ".ci/run").read_text()
    make = (ROOT / "Makefile").read_text()
    assert 'torch==2.13.0' in make and "-eq 5" in make


def test_book_config_is_strict_and_points_at_one_repository():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["only_build_toc_files"] is True
    assert cfg["execute"]["execute_notebooks"] == "force"
    assert cfg["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert cfg["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")
    url = cfg["repository"]["url"]
    assert url.startswith("https://github.com/")
    bib = (ROOT / cfg["bibtex_bibfiles"][0]).read_text()
    assert "2310.17233" in bib, "the EMMA-X paper must be in the bibliography"


def test_every_toc_file_exists_and_notebooks_are_stripped():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for f in files:
        assert (ROOT / f).with_suffix(".md").exists() or (ROOT / f).with_suffix(".ipynb").exists(), f
    import json

    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        outputs = [c for c in nb["cells"] if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
        assert not outputs, f"{nb_path.name} is committed with outputs; strip them"
        assert str(nb_path.relative_to(ROOT).with_suffix("")) in files, f"{nb_path.name} is not in _toc.yml"
