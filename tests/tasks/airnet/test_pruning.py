"""L1 filter pruning removes exactly the filters it names, and nothing else changes."""

from __future__ import annotations

import numpy as np
import torch

from sdrkit.nn.airnet import AirStudent, count_weights, filter_l1, prune_filters, prune_plan


def test_pruning_removes_exactly_the_planned_filters():
    torch.manual_seed(0)
    net = AirStudent(11, (10, 12, 12, 14)).eval()
    plan = prune_plan(net, 0.1)
    for norms, p in zip(filter_l1(net), plan):
        k = len(p)
        assert k == max(round(0.1 * len(norms)), 1)
        assert set(p) == set(np.argsort(norms, kind="stable")[:k])      # the smallest L1 norms
    small = prune_filters(net, plan)
    assert small.widths == [w - len(p) for w, p in zip(net.widths, plan)]
    keep = [np.setdiff1d(np.arange(w), p) for w, p in zip(net.widths, plan)]
    prev = np.arange(7)
    for old, new, k in zip(net.convs, small.convs, keep):
        np.testing.assert_array_equal(new.weight.detach().numpy(), old.weight.detach().numpy()[k][:, prev])
        np.testing.assert_array_equal(new.bias.detach().numpy(), old.bias.detach().numpy()[k])
        prev = k
    # the pruned network computes what the original computes with those filters zeroed
    zeroed = AirStudent(11, net.widths).eval()
    zeroed.load_state_dict(net.state_dict())
    with torch.no_grad():
        for conv, p in zip(zeroed.convs, plan):
            conv.weight[p] = 0
            conv.bias[p] = 0
        x = torch.randn(8, 2, 1024)
        np.testing.assert_allclose(small(x).numpy(), zeroed(x).numpy(), rtol=1e-5, atol=1e-5)
    removed = count_weights(net) - count_weights(small)
    assert removed > 0


def test_repeated_pruning_keeps_at_least_one_filter():
    net = AirStudent(11, (3, 3, 2, 2))
    for _ in range(6):
        net = prune_filters(net, prune_plan(net, 0.1))
    assert min(net.widths) >= 1
