"""bench stream_e2e attributes every lost sample from the subscriber's own per-block counts."""

from sdrkit.bench.stream import LossReport

OUT = "published 100 blocks, 1638400 samples in 1.0 s; radio lost 50000"


def test_losses_come_from_the_subscribers_attribution():
    by = {"radio": 40000, "transport": 16384, "restart": 7, "resync": 0, "unreported": 3}
    r = LossReport.measure(16384, 56394, 1, OUT, frames_skipped=2, samples_discarded=100, lost_by=by)
    assert (r.radio, r.transport, r.other, r.unattributed, r.publisher_radio) == (40000, 16384, 10, 0, 50000)
    assert r.lost == 56394 + 100 and "unattributed 0" in r.notes()


def test_a_loss_no_source_accounts_for_is_shown():
    by = {"radio": 1, "transport": 0, "restart": 0, "resync": 0, "unreported": 0}
    assert LossReport.measure(16384, 5, 0, "", 0, 0, lost_by=by).unattributed == 4


def test_without_an_attribution_transport_is_whole_messages():
    r = LossReport.measure(16384, 16384 + 10, 1, OUT, 0, 0)
    assert (r.radio, r.transport) == (10, 16384)
