"""Device choice and seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from huracan_core.models.device import pick_device, seed_everything


def test_cpu_can_always_be_forced():
    assert pick_device("cpu") == torch.device("cpu")


def test_auto_picks_cuda_only_when_torch_sees_one():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_forcing_cuda_without_a_gpu_is_an_error_not_a_silent_cpu_run():
    with pytest.raises(RuntimeError, match="no CUDA"):
        pick_device("cuda")


def test_unknown_device_name_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        pick_device("tpu")


def test_same_seed_gives_same_random_draws_in_numpy_and_torch():
    seed_everything(11)
    first = (np.random.rand(3), torch.rand(3))
    seed_everything(11)
    second = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(first[0], second[0])
    assert torch.equal(first[1], second[1])
