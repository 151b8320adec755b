#!/usr/bin/env python3
"""Plot a training CSV: python scripts/plot.py loss.csv -o loss.png

A thin command-line wrapper; the plotting lives in faustdiff.drivers.plotting so the
faustdiff CLI draws the same figure.
"""

import argparse
import sys
from pathlib import Path

from faustdiff.drivers.plotting import plot_training_csv


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Plot loss and parameters of a faustdiff training CSV.")
    parser.add_argument("csv", type=Path, help="CSV written by `faustdiff train --csv`")
    parser.add_argument("-o", "--output", type=Path, help="PNG to write (default: the CSV's name with .png)")
    args = parser.parse_args(argv)
    output = args.output or args.csv.with_suffix(".png")
    try:
        titles = plot_training_csv(args.csv, output)
    except (OSError, ValueError) as error:
        print(f"plot.py: {error}", file=sys.stderr)
        return 1
    print(f"wrote {output} ({len(titles)} panels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
