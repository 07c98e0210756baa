"""Keep every chapter's opening identical and derived from two places: _config.yml's repository.url and the
package version (`emmax_core.__version__`, which pyproject.toml reads too).

Each notebook opens with (1) a markdown cell: title, Colab badge, what you will build; (2) the guarded
Colab-only install cell; (3) the setup cell (versions, seed, device, profile and config). This script rewrites
the badge and the install cell; both point at the release tag `v<version>`, so the notebook Colab opens and the
package it installs are the same release. `--check` only reports drift (used by the tests).

    python scripts/sync_notebooks.py          # rewrite
    python scripts/sync_notebooks.py --check  # exit 1 when a notebook drifted
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INSTALL_TAG = "colab-install"


def _repo() -> str:
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    return cfg["repository"]["url"].rstrip("/")


def _version() -> str:
    text = (ROOT / "emmax_core" / "__init__.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def tag() -> str:
    """The release tag of this version, `v<emmax_core.__version__>`: what the badge opens and the cell installs."""
    return f"v{_version()}"


def badge(nb_rel: str) -> str:
    colab = _repo().replace("https://github.com/", "https://colab.research.google.com/github/")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab}/blob/{tag()}/{nb_rel})")


def install_source() -> str:
    url = _repo()
    return (
        "# Colab only: install emmax_core from the book's repository, pinned to a release tag.\n"
        "# Colab's own torch and numpy are kept (the package declares loose floors only).\n"
        "import subprocess\n"
        "import sys\n\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    subprocess.check_call([sys.executable, \"-m\", \"pip\", \"install\", \"-q\",\n"
        f"                           \"emmax-core @ git+{url}@{tag()}\"])"
    )


def sync(path: Path) -> bool:
    """Rewrite one notebook's opening; return True when it changed."""
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    rel = path.relative_to(ROOT).as_posix()
    head = "".join(cells[0]["source"]).split("\n")
    if cells[0]["cell_type"] != "markdown" or not head[0].startswith("# "):
        raise SystemExit(f"{rel}: the first cell must be markdown starting with '# Title'")
    head = [ln for ln in head if "colab-badge.svg" not in ln]
    rest = head[1:]
    while rest and not rest[0].strip():
        rest = rest[1:]
    new_head = "\n".join([head[0], "", badge(rel), ""] + rest)
    install = {"cell_type": "code", "execution_count": None, "metadata": {"tags": [INSTALL_TAG]},
               "outputs": [], "source": install_source()}
    has_install = len(cells) > 1 and INSTALL_TAG in cells[1].get("metadata", {}).get("tags", [])
    before = json.dumps(nb, sort_keys=True)
    cells[0]["source"] = new_head
    if has_install:
        cells[1]["source"] = install["source"]
    else:
        cells.insert(1, install)
    if "emmax_core.env import" not in "".join(cells[2]["source"]) or "setup(" not in "".join(cells[2]["source"]):
        raise SystemExit(f"{rel}: the third cell must call emmax_core.env.setup()")
    changed = json.dumps(nb, sort_keys=True) != before
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    drift = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        original = path.read_text()
        if sync(path):
            drift.append(path.name)
            if args.check:
                path.write_text(original)
    if drift:
        print(("drifted: " if args.check else "rewrote: ") + ", ".join(drift))
    return 1 if (args.check and drift) else 0


if __name__ == "__main__":
    sys.exit(main())
