"""The growth table of `make bench-scale` (bench/scale.py), rendered from stored results: the
peer beside our pages at each size, and each workload's own run named in the header."""

from bench import scale


def _pages(inbox_p95: float, page_p95: float) -> dict:
    cases = [
        {"page": "inbox", "persona": "Supervisor", "case": "New", "p95_ms": inbox_p95 - 5,
         "queries": 12, "floor_median_ms": 3.0},
        {"page": "inbox", "persona": "Supervisor", "case": "Pending", "p95_ms": inbox_p95,
         "queries": 12, "floor_median_ms": 3.5},
        # A filtered case is slower but is not what the peer's unfiltered queue page compares to.
        {"page": "inbox", "persona": "Supervisor", "case": "Resolved, tag refund",
         "p95_ms": inbox_p95 * 3, "queries": 11, "floor_median_ms": 9.0},
        {"page": "conversation", "persona": "Supervisor", "case": "500-message thread",
         "p95_ms": page_p95, "queries": 13, "floor_median_ms": 1.0},
    ]  # fmt: skip
    return {"cases": cases, "dataset": {"seconds": 600}}


def _peer(queue_p95: float) -> dict:
    return {"queue_page": {"p95_ms": queue_p95}, "ticket_page": {"p95_ms": 45.0}}


def _store() -> dict:
    return {
        "100000": {
            "commit": "aaaaaaa", "at": "2026-12-06T07:00:00+00:00",
            "pages": {**_pages(40.0, 25.0), "load_before": 0.5},
            "peer": {**_peer(720.0), "commit": "bbbbbbb",
                     "at": "2026-12-06T10:19:00+00:00", "load_before": 0.4},
        },
        "10000000": {
            "commit": "ccccccc", "at": "2026-12-06T09:00:00+00:00",
            "pages": {**_pages(47.0, 29.0), "load_before": 1.3},
            "peer": {**_peer(61_000.0), "load_before": 1.0},
        },
    }  # fmt: skip


def test_the_peer_row_sets_its_queue_page_beside_our_slowest_unfiltered_queue():
    header, rows = scale.growth_rows(_store())
    assert header[2:4] == ["100k", "10M"]
    row = next(r for r in rows if r[0].startswith("inbox vs django-helpdesk"))
    assert row[2] == "40.0 ms vs 720 ms: 18×"
    assert row[3] == "47.0 ms vs 61,000 ms: 1,298×"
    assert row[-2:] == ["≥ 10× faster", "yes"]
    ticket = next(r for r in rows if r[0].startswith("conversation page vs"))
    assert ticket[2] == "25.0 ms vs 45.0 ms: 1.8×"


def test_a_peer_slower_by_less_than_ten_times_at_the_largest_size_is_a_miss():
    store = _store()
    store["10000000"]["peer"] = _peer(300.0)
    _, rows = scale.growth_rows(store)
    row = next(r for r in rows if r[0].startswith("inbox vs django-helpdesk"))
    assert row[3].endswith(": 6.4×")
    assert row[-1] == "NO"


def test_without_a_peer_run_there_is_no_peer_row():
    store = _store()
    for entry in store.values():
        del entry["peer"]
    _, rows = scale.growth_rows(store)
    assert not [r for r in rows if "django-helpdesk" in r[0]]


def test_the_header_names_each_workloads_own_run():
    text = scale.render(_store())
    assert (
        "- 100k: pages 2026-12-06 07:00 UTC at `aaaaaaa` (load 0.5);"
        " peer 2026-12-06 10:19 UTC at `bbbbbbb` (load 0.4)"
    ) in text
    # A result stored before workloads kept their own run falls back to its size's.
    assert "peer 2026-12-06 09:00 UTC at `ccccccc` (load 1.0)" in text
