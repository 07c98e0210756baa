"""Bump the project's version everywhere it is written, from one place: `emmax_core.__version__`.

The version appears in: emmax_core/__init__.py (the source; pyproject.toml reads it), every notebook's Colab
badge and install cell (the tag `v<version>`, written by scripts/sync_notebooks.py; the student notebooks,
student/notebooks/, are regenerated from them by scripts/make_student.py), _config.yml (the launch
buttons' `repository.branch` and the footer of every page), CHANGELOG.md (the newest release section) and
CITATION.cff (`version`, `date-released`).

    python scripts/release.py 0.2.0      # or: make release VERSION=0.2.0
    python scripts/release.py --check    # exit 1 when any of those places disagree (used by the tests)

A release moves CHANGELOG.md's `[Unreleased]` entries into a new `[<version>] - <date>` section. It neither
commits nor tags: review the diff, commit, then `git tag v<version> && git push origin v<version>` (the
release workflow builds the wheel and the book from the tag).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT / "emmax_core" / "__init__.py"
CONFIG = ROOT / "_config.yml"
CHANGELOG = ROOT / "CHANGELOG.md"
CITATION = ROOT / "CITATION.cff"
VERSION_RE = r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?"
RELEASE_HEADING = re.compile(rf"^## \[({VERSION_RE})\] - (\d{{4}}-\d{{2}}-\d{{2}})$", re.M)
FOOTER = "The EMMA-X Book, release v{version} (emmax_core {version})"


def _sub_once(pattern: str, repl: str, text: str, where: str) -> str:
    new, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    if n != 1:
        raise SystemExit(f"{where}: no line matches {pattern!r}; fix the file by hand, then run again")
    return new


def package_version() -> str:
    return re.search(r'^__version__ = "([^"]+)"', INIT.read_text(), flags=re.M).group(1)


def found_versions() -> dict[str, str]:
    """Every place that states the version -> the version it states ("<missing>" when it states none)."""
    found = {"emmax_core/__init__.py": package_version()}
    cfg = yaml.safe_load(CONFIG.read_text())
    found["_config.yml repository.branch"] = str(cfg["repository"]["branch"]).removeprefix("v")
    footer = re.search(rf"release v({VERSION_RE})", cfg.get("html", {}).get("extra_footer", ""))
    found["_config.yml html.extra_footer"] = footer.group(1) if footer else "<missing>"
    cff = yaml.safe_load(CITATION.read_text())
    found["CITATION.cff version"] = str(cff.get("version", "<missing>"))
    releases = RELEASE_HEADING.findall(CHANGELOG.read_text())
    found["CHANGELOG.md newest release"] = releases[0][0] if releases else "<missing>"
    cff_date = str(cff.get("date-released", "<missing>"))
    found["CITATION.cff date-released (as CHANGELOG's date)"] = next(
        (v for v, d in releases if d == cff_date and v == found["CITATION.cff version"]), f"date {cff_date}")
    found["CHANGELOG.md link for the newest release"] = (
        found["CHANGELOG.md newest release"]
        if re.search(rf"^\[{re.escape(found['CHANGELOG.md newest release'])}\]: \S+[/.]v"
                     rf"{re.escape(found['CHANGELOG.md newest release'])}$", CHANGELOG.read_text(), re.M)
        else "<missing>")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "student").glob("notebooks/*.ipynb")):
        text = nb.read_text()
        # the Colab badge (.../blob/v<version>/...) and the install cell (...@v<version>); the rest of each
        # opening is kept in step by scripts/sync_notebooks.py --check (tests/test_notebooks.py)
        tags = set(re.findall(rf"(?:blob/|@)v({VERSION_RE})\b", text))
        found[f"{nb.relative_to(ROOT).as_posix()} badge and install tag"] = tags.pop() if len(tags) == 1 else f"{sorted(tags)}"
    return found


def disagreements() -> list[str]:
    version = package_version()
    return [f"{place}: {value} (package: {version})" for place, value in found_versions().items() if value != version]


def bump(version: str, date: str) -> None:
    if not re.fullmatch(VERSION_RE, version):
        raise SystemExit(f"VERSION={version!r} is not a version like 1.2.3 (or 1.2.3rc1)")
    old = package_version()
    changelog = CHANGELOG.read_text()
    if re.search(rf"^## \[{re.escape(version)}\]", changelog, re.M):
        raise SystemExit(f"CHANGELOG.md already has a section for {version}; choose a new version")
    INIT.write_text(_sub_once(r'^__version__ = "[^"]+"', f'__version__ = "{version}"', INIT.read_text(), "INIT"))

    config = CONFIG.read_text()
    config = _sub_once(r"^(  branch: ).*$", rf"\g<1>v{version}", config, "_config.yml repository.branch")
    config = _sub_once(r"^(  extra_footer: ).*$", rf'\g<1>"{FOOTER.format(version=version)}"', config,
                       "_config.yml html.extra_footer")
    CONFIG.write_text(config)

    cff = CITATION.read_text()
    cff = _sub_once(r"^version: .*$", f'version: "{version}"', cff, "CITATION.cff version")
    CITATION.write_text(_sub_once(r"^date-released: .*$", f'date-released: "{date}"', cff,
                                  "CITATION.cff date-released"))

    changelog = _sub_once(r"^## \[Unreleased\]\n", f"## [Unreleased]\n\n## [{version}] - {date}\n", changelog,
                          "CHANGELOG.md '## [Unreleased]'")
    changelog = re.sub(r"(## \[Unreleased\]\n)\n+(## \[)", r"\1\n\2", changelog)
    base = re.search(r"^\[Unreleased\]: (\S+)/compare/\S+$", changelog, re.M)
    if base is None:
        raise SystemExit("CHANGELOG.md: no '[Unreleased]: <repo>/compare/...' link at the bottom")
    repo = base.group(1)
    changelog = changelog.replace(
        base.group(0),
        f"[Unreleased]: {repo}/compare/v{version}...HEAD\n[{version}]: {repo}/compare/v{old}...v{version}")
    CHANGELOG.write_text(changelog)

    subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_notebooks.py")], check=True)
    if (ROOT / "scripts" / "make_student.py").exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_student.py")], check=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("version", nargs="?", help="the new version, e.g. 0.2.0")
    ap.add_argument("--date", default=dt.datetime.now(dt.timezone.utc).date().isoformat(),
                    help="release date for CHANGELOG.md and CITATION.cff (default: today, UTC)")
    ap.add_argument("--check", action="store_true", help="only report places that disagree")
    args = ap.parse_args(argv)
    if not args.check:
        if not args.version:
            ap.error("give the new version (make release VERSION=x.y.z), or --check")
        bump(args.version, args.date)
    bad = disagreements()
    if bad:
        print("version disagreements:\n  " + "\n  ".join(bad))
        return 1
    if not args.check:
        print(f"released {package_version()} in every place; next: review, commit, "
              f"git tag v{package_version()} && git push origin v{package_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
