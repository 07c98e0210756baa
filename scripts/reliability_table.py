"""Write the table of book/reliability.md from the bad-input cases of tests/test_bad_input.py.

Each row is one case: its id, the input (the Python the test runs), the exception and the message a user
sees, taken by running the case. The table sits between two marker comments; the rest of the page is
written by hand. `tests/test_bad_input.py` fails when the page differs from what this script writes.

    python scripts/reliability_table.py          # rewrite the table
    python scripts/reliability_table.py --check  # exit 1 when the page is out of date
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "reliability.md"
BEGIN = "<!-- bad-input table: begin (written by scripts/reliability_table.py, do not edit) -->"
END = "<!-- bad-input table: end -->"


def _code(text: str) -> str:
    """`text` as an inline code span in a table cell (pipes escaped, a fence longer than any backtick run)."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def render_table(cases, observe) -> str:
    """The markdown table of `cases`, with each message from `observe(case) -> (exception type, message)`."""
    rows = ["| case | input | exception | message |", "| --- | --- | --- | --- |"]
    for case in cases:
        error, message = observe(case)
        name = error.__name__ if error is not None else "(none raised)"
        rows.append(f"| {case.id} | {_code(case.code)} | {name} | {_code(message)} |")
    return "\n".join(rows)


def current_table(page: str) -> str:
    """The table between the markers of `page` (ValueError when a marker is missing)."""
    if BEGIN not in page or END not in page:
        raise ValueError(f"{PAGE.name} lacks the markers {BEGIN!r} and {END!r}: put them around the table.")
    return page.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report whether the page is up to date")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(ROOT / "tests"))
    import test_bad_input as cases_module

    page = PAGE.read_text(encoding="utf-8")
    table = render_table(cases_module.CASES, cases_module.observe)
    if current_table(page) == table:
        print(f"{PAGE.relative_to(ROOT)} is up to date ({len(cases_module.CASES)} cases)")
        return 0
    if args.check:
        print(f"{PAGE.relative_to(ROOT)} is out of date: run python scripts/reliability_table.py")
        return 1
    head, rest = page.split(BEGIN, 1)
    PAGE.write_text(f"{head}{BEGIN}\n\n{table}\n\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
    print(f"wrote {len(cases_module.CASES)} cases to {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
