"""Time the reports page's three SVG charts (reports/charts.py: daily_charts), no database.

    nice -n 19 .venv/bin/python -m bench.charts [--repeat 7]

Renders the charts of a 30-day and a 366-day report (two series a chart, one dot per day) in
English and German; prints the best of ``--repeat`` rounds per call (the best, because the
machine is shared: the slower rounds measure the neighbours).
"""

from __future__ import annotations

import argparse
import os
import timeit
from datetime import date, timedelta


def _days(n: int) -> list:
    from reports import figures

    return [
        figures.Day(
            date(2026, 1, 1) + timedelta(days=g), 40 + g % 17, 35 + g % 11, 200 + g % 23,
            180 + g % 19, figures.Duration(None if g % 9 == 0 else 600 + g * 37),
        )
        for g in range(n)
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.charts", description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.utils import translation

    from reports import charts

    for n in (30, 366):
        days = _days(n)
        number = 200 if n == 30 else 20
        for language in ("en", "de"):
            with translation.override(language):
                charts.daily_charts(days)  # warm: templates compiled, catalogues loaded
                timer = timeit.Timer(lambda days=days: charts.daily_charts(days))
                best = min(timer.repeat(number=number, repeat=args.repeat))
            print(f"{n:>3} days, {language}: {best / number * 1000:.3f} ms per page (3 charts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
