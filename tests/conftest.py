import numpy as np
import pytest
import torch

import sigcg.runtime.backend

# Every kernel output starts as NaN: an entry a kernel forgets to write fails the comparison.
sigcg.runtime.backend.POISON = True


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_path(batch, length, channels, dtype=torch.float64, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(batch, length, channels, generator=g, dtype=torch.float64) * scale
    return steps.cumsum(1).to(dtype)
