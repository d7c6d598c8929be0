"""The bench's judgement of the sustained-load steps (pure): a step that accepted everything
but replied late, or left messages waiting, misses its target, and the bench then exits
non-zero."""
from __future__ import annotations

from tools.bench import keeps_up, sustained_rows


def run(rate: float, delay_p95: float = 200, ack_p99: float = 40, processed: int = 100,
        errors: int = 0) -> dict[str, float]:
    return {"rate": rate, "sent": 100, "errors": errors, "ack_p99": ack_p99,
            "processed": processed, "throughput": rate, "delay_p50": delay_p95 / 2,
            "delay_p95": delay_p95}


def test_accepting_is_not_keeping_up():
    assert keeps_up(run(40))
    assert not keeps_up(run(40, delay_p95=1800))  # accepted, answered 1.8 s later
    assert not keeps_up(run(40, processed=90))  # some still wait in the inbox
    assert not keeps_up(run(40, ack_p99=150))
    assert not keeps_up(run(40, errors=1))


def test_the_steps_are_judged_and_the_best_rate_counts_only_steps_kept_up_with():
    rows = sustained_rows("one Rasa server", [run(40), run(80, delay_p95=10500), run(120)])
    by_name = {name.strip(): met for name, _, _, met in rows}
    assert by_name["sustained inbound, one Rasa server"] is False  # 80/s replied 10.5 s late
    assert by_name["40 msg/s for 100 msgs"] is True
    assert by_name["80 msg/s for 100 msgs"] is False
    assert by_name["120 msg/s for 100 msgs"] is True  # beyond the target: for information
    assert "40 msg/s kept up with" in rows[0][1]
