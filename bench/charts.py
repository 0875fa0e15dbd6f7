"""Time the reports page's three SVG charts (reports/charts.py: daily_charts), no database.

    nice -n 19 .venv/bin/python -m bench.charts [--repeat 21] [--against OLD_CHARTS_PY]

Renders the charts of a 30-day and a 366-day report (two series a chart, one dot per day) in
English and German and prints the CPU time per page (three charts): the minimum and the median
of ``--repeat`` rounds (CPU time, because the machine is shared: wall time measures the
neighbours). ``--against`` times another version of reports/charts.py too, round by round in
turn with today's, e.g. the f-string charts before issue 14 item 4:
``git show 7165207:reports/charts.py > /tmp/charts_old.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
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


def _load(path: str):
    spec = importlib.util.spec_from_file_location("charts_against", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.charts", description=__doc__)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--against", metavar="PATH", help="another reports/charts.py to time")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.utils import translation

    from reports import charts

    versions = {"today": charts, **({"against": _load(args.against)} if args.against else {})}
    for n in (30, 366):
        days = _days(n)
        number = 100 if n == 30 else 10
        for language in ("en", "de"):
            with translation.override(language):
                ms: dict[str, list[float]] = {name: [] for name in versions}
                for module in versions.values():
                    module.daily_charts(days)  # warm: templates compiled, catalogues loaded
                for _ in range(args.repeat):
                    for name, module in versions.items():
                        started = time.process_time()
                        for _ in range(number):
                            module.daily_charts(days)
                        ms[name].append((time.process_time() - started) * 1000 / number)
            figures = ", ".join(
                f"{name} {min(v):.2f} / {statistics.median(v):.2f} ms" for name, v in ms.items()
            )
            print(f"{n:>3} days, {language}: {figures} (min / median CPU a page)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
