"""The command line of the demo corpus generator."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import tools.demo_corpus
from tools.demo_corpus.corpus import generate_demo_corpus
from tools.demo_corpus.layouts import ALL_LAYOUTS, DEFAULT_LINES_PER_OBJECT


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m tools.demo_corpus --out DIR [options]``."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo_corpus", description=tools.demo_corpus.__doc__.splitlines()[0]
    )
    parser.add_argument("--out", required=True, type=Path, help="target directory")
    parser.add_argument("--findings", type=int, default=5000, help="finding versions to write")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--end-date", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today UTC)"
    )
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument(
        "--layouts",
        default=",".join(ALL_LAYOUTS),
        help=f"comma-separated subset of {','.join(ALL_LAYOUTS)}",
    )
    parser.add_argument("--lines-per-object", type=int, default=DEFAULT_LINES_PER_OBJECT)
    args = parser.parse_args(argv)
    summary = generate_demo_corpus(
        args.out,
        findings=args.findings,
        seed=args.seed,
        end_date=args.end_date,
        days=args.days,
        layouts=tuple(name.strip() for name in args.layouts.split(",") if name.strip()),
        lines_per_object=args.lines_per_object,
    )
    print(summary.one_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
