"""The notebook opening: `setup()` picks profile and config, and every chapter takes its config from it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import torch

from emmax_core import config as C
from emmax_core.env import Session, parse_overrides, setup

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Calls that build or train a model from a config: their config must come from `setup()`.
BUILDERS = {"train_or_load", "EMMAXTrainer", "build_sampler", "from_config"}
PRESETS = {"tiny", "colab", "paper", "preset"}


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("EMMAX_PROFILE", "EMMAX_SET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return monkeypatch


def test_setup_defaults_to_the_tiny_profile_offline(clean_env, capsys):
    env = setup(seed=3)
    assert isinstance(env, Session) and env.profile == env.requested == "tiny" and env.note == ""
    assert env.config == C.tiny() and env.seed == 3
    assert env.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert "profile: tiny" in capsys.readouterr().out


def test_setup_seeds_every_rng(clean_env):
    setup(seed=5, verbose=False)
    a = torch.rand(3)
    setup(seed=5, verbose=False)
    assert torch.equal(a, torch.rand(3))


@pytest.mark.parametrize("profile", ["tiny", "colab"])
def test_emmax_profile_changes_the_config(clean_env, profile):
    clean_env.setenv("EMMAX_PROFILE", profile)
    env = setup(verbose=False)
    assert env.profile == profile and env.config == C.preset(profile)


def test_a_chapter_that_cannot_run_a_profile_falls_back_and_says_so(clean_env, capsys):
    clean_env.setenv("EMMAX_PROFILE", "paper")
    env = setup()  # chapters that train: tiny and colab
    assert (env.requested, env.profile, env.config) == ("paper", "colab", C.colab())
    assert "does not run the 'paper' profile" in env.note and env.note in capsys.readouterr().out
    assert setup(verbose=False, profiles=C.PROFILES).profile == "paper"
    clean_env.setenv("EMMAX_PROFILE", "colab")
    assert setup(verbose=False, profiles=("tiny",)).profile == "tiny"


def test_emmax_set_overrides_the_profile(clean_env):
    clean_env.setenv("EMMAX_PROFILE", "colab")
    clean_env.setenv("EMMAX_SET", "encoder.backbone=/models/xlmr; encoder.tokenizer=/models/xlmr\ntrain.em_steps=5;")
    cfg = setup(verbose=False).config
    assert (cfg.encoder.backbone, cfg.encoder.tokenizer, cfg.train.em_steps) == ("/models/xlmr", "/models/xlmr", 5)
    assert cfg.train.init_steps == C.colab().train.init_steps
    clean_env.setenv("EMMAX_SET", "train.em_step=5")
    with pytest.raises(ValueError, match="em_step"):
        setup(verbose=False)


def test_parse_overrides():
    assert parse_overrides("") == {}
    assert parse_overrides("ranks.queue_size=64; train.lr=5e-4; ranks.confidence_threshold=null") == {
        "ranks": {"queue_size": 64, "confidence_threshold": None}, "train": {"lr": "5e-4"}}
    with pytest.raises(ValueError, match="SECTION.KEY=VALUE"):
        parse_overrides("em_steps=5")


def _code(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _from_setup(tree: ast.AST) -> set[str]:
    """Names bound, directly or through other such names, from what `setup()` returned (`env`)."""
    names, grew = {"env"}, True
    while grew:
        before = len(names)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and _names(node.value) & names:
                names |= set().union(*(_names(t) for t in node.targets))
        grew = len(names) > before
    return names


def _presets(node: ast.AST) -> set[str]:
    return {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            and n.func.id in PRESETS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_model_a_chapter_builds_comes_from_the_setup_config(path):
    code = _code(path)
    setup_cell = code[1]
    assert re.search(r"^env = setup\(", setup_cell, flags=re.M), "the set-up cell binds `env = setup(...)`"
    tree = ast.parse("\n".join(c for c in code if not c.lstrip().startswith(("%", "!"))))
    derived = _from_setup(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and \
                (node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")) in BUILDERS:
            arg = node.args[0]
            assert _names(arg) & derived and not _presets(arg), \
                f"{path.name}: {ast.unparse(node)} must build from the config of setup(), not from a preset"
    if "02" <= path.stem[:2] <= "09":  # chapters 00 and 10 compare the presets themselves
        assert not _presets(tree), f"{path.name} calls a preset directly: {_presets(tree)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_badge_and_install_cell_use_the_package_version(path):
    import emmax_core

    tag = f"v{emmax_core.__version__}"
    cells = json.loads(path.read_text())["cells"]
    head, install = "".join(cells[0]["source"]), "".join(cells[1]["source"])
    badges = re.findall(r"colab\.research\.google\.com/github/[^)\s]+/blob/([^/)\s]+)/", head)
    assert badges == [tag], f"{path.name}: the Colab badge opens {badges}, not the release tag {tag}"
    pins = re.findall(r"emmax-core @ git\+\S+@([^\"'\s]+)", install)
    assert pins == [tag], f"{path.name}: the install cell pins {pins}, not {tag}"


def test_the_version_is_written_once():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'attr = "emmax_core.__version__"' in text
    assert not re.search(r"^version\s*=\s*\"", text, flags=re.M)  # no literal version here
