"""`python -m bench.faults [--quick] [--cases abcde]`: run the fault cases, print the table.

Exits 1 when any case lost or duplicated a message (or could not run), 2 when the PostgreSQL or
Redis server binaries are missing.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import pgbouncer
from bench.faults import infra, suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="CI durations: faults of a few seconds each"
    )
    parser.add_argument("--cases", default="abcde", help="which cases, in order (default: abcde)")
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="the processes reach PostgreSQL through PgBouncer in transaction mode",
    )
    args = parser.parse_args(argv)
    if set(args.cases) - set(suite.CASES):
        parser.error(f"--cases: choose from {''.join(suite.CASES)}")
    missing = infra.missing_binaries()
    if args.pgbouncer and not pgbouncer.binary():
        missing.append("pgbouncer")
    if missing:
        print(f"faults: cannot run without {', '.join(missing)}", file=sys.stderr)
        return 2
    began = time.monotonic()
    results = suite.run(quick=args.quick, cases=args.cases, pgbouncer=args.pgbouncer)
    print()
    print(suite.table(results))
    print(
        f"\n{len(results)} cases in {time.monotonic() - began:.0f}s; "
        f"lost {sum(r.lost for r in results)}, duplicated {sum(r.duplicated for r in results)}"
    )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
