"""Tests for emmax_core.momentum: the EMA update formula and the wrap-around key queue."""

from collections import deque

import pytest
import torch
from torch import nn

from emmax_core.momentum import KeyQueue, MomentumEncoder


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))


def test_momentum_encoder_is_a_frozen_copy():
    online = _net()
    key = MomentumEncoder(online)
    assert all(not p.requires_grad for p in key.parameters())
    assert key.encoder[0].weight.data_ptr() != online[0].weight.data_ptr()
    out = key(torch.randn(5, 4))
    assert not out.requires_grad


def test_momentum_update_formula_and_buffers():
    online = _net()
    key = MomentumEncoder(online)
    xi = [p.clone() for p in key.encoder.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    online.train()
    online(torch.randn(8, 4))  # changes the batch-norm running statistics
    key.update(online, momentum=0.9)
    for old, new, theta in zip(xi, key.encoder.parameters(), online.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * theta)
    torch.testing.assert_close(key.encoder[1].running_mean, online[1].running_mean)
    key.update(online, momentum=0.0)
    for new, theta in zip(key.encoder.parameters(), online.parameters()):
        torch.testing.assert_close(new, theta)
    with pytest.raises(ValueError, match="momentum"):
        key.update(online, momentum=1.5)
    with pytest.raises(ValueError, match="parameters"):
        key.update(nn.Linear(4, 3), momentum=0.9)


def test_queue_initial_state():
    queue = KeyQueue(6, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(6))
    assert queue.unit_ids.tolist() == [-1] * 6 and queue.langs.tolist() == [-1] * 6
    assert queue.filled == 0 and queue.queue_size == 6


@pytest.mark.parametrize("batch", [3, 4, 7, 12])
def test_queue_wraparound_matches_deque(batch):
    size, dim = 5, 2
    queue = KeyQueue(size, dim)
    reference = deque(maxlen=size)  # newest last
    for step in range(4):
        ids = torch.arange(batch) + 100 * step
        keys = torch.stack([ids.float(), -ids.float()], dim=1)
        queue.enqueue(keys, unit_ids=ids, langs=ids % 3)
        reference.extend(ids.tolist())
        # the slot before ptr holds the newest key; reading from ptr walks oldest -> newest
        order = (int(queue.ptr) + torch.arange(size)) % size
        assert queue.unit_ids[order].tolist()[-len(reference):] == list(reference)
        assert queue.keys[order, 0].long().tolist()[-len(reference):] == list(reference)
        real = queue.unit_ids >= 0
        assert torch.equal(queue.langs[real], queue.unit_ids[real] % 3)
        assert torch.equal(queue.langs[~real], queue.unit_ids[~real])
    assert queue.filled == size


def test_queue_partial_fill_and_defaults():
    queue = KeyQueue(8, 3)
    queue.enqueue(torch.ones(3, 3))
    assert queue.filled == 3 and int(queue.ptr) == 3
    assert queue.unit_ids.tolist() == [-1] * 8
    torch.testing.assert_close(queue.keys[:3], torch.ones(3, 3))
    with pytest.raises(ValueError, match="keys"):
        queue.enqueue(torch.ones(2, 4))
    with pytest.raises(ValueError, match="unit_ids"):
        queue.enqueue(torch.ones(2, 3), unit_ids=torch.arange(3))


def test_queue_state_dict_round_trip():
    gen = torch.Generator().manual_seed(1)
    queue = KeyQueue(7, 4, generator=gen)
    queue.enqueue(torch.randn(5, 4, generator=gen), unit_ids=torch.arange(5))
    resumed = KeyQueue(7, 4)
    resumed.load_state_dict(queue.state_dict())
    batch = torch.randn(5, 4, generator=gen)
    queue.enqueue(batch, unit_ids=torch.arange(5, 10))
    resumed.enqueue(batch, unit_ids=torch.arange(5, 10))
    for name, buf in queue.state_dict().items():
        assert torch.equal(buf, resumed.state_dict()[name]), name
    assert resumed.filled == 7 and int(resumed.ptr) == 3
