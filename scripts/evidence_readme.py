"""Rewrite the README's generated evidence block from results/*.json (``--check``: only say whether it is stale).

.venv/bin/python scripts/evidence_readme.py            # rewrite README.md's block and the figures it shows
.venv/bin/python scripts/evidence_readme.py --check    # exit 1 when the block differs from the files
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mintlab.experiments.evidence_report import evidence_figures, evidence_markdown, replace_block

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    parser.add_argument("--results", default=str(ROOT / "results"))
    args = parser.parse_args(argv)
    readme = Path(args.readme)
    text = readme.read_text()
    if not args.check:  # first: the block names a figure only where its file is there
        for figure in evidence_figures(args.results):
            print(f"wrote {figure}")
    new = replace_block(text, evidence_markdown(args.results))
    if args.check:
        print("README evidence block is up to date" if new == text else "README evidence block is stale")
        return 0 if new == text else 1
    readme.write_text(new)
    print(f"rewrote the evidence block of {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
