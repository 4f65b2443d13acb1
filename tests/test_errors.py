"""Bad input is rejected with a clear message before any kernel runs."""

import numpy as np
import pytest
import torch

import sigcg
from conftest import random_path


def x(*shape, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype)


@pytest.mark.parametrize(
    "path,depth,kwargs,error,match",
    [
        (x(2, 3, 4, 5), 2, {}, ValueError, "shape"),
        (x(5), 2, {}, ValueError, "shape"),
        (x(2, 1, 3), 2, {}, ValueError, "length >= 2"),
        (x(2, 0, 3), 2, {"basepoint": True}, ValueError, "length >= 1 with a basepoint"),
        (x(2, 4, 0), 2, {}, ValueError, "at least one channel"),
        (x(2, 4, 3), 0, {}, ValueError, "depth must be an integer >= 1"),
        (x(2, 4, 3), 2.0, {}, TypeError, "depth must be an integer"),
        (torch.ones(2, 4, 3, dtype=torch.int64), 2, {}, TypeError, "float32 or float64"),
        (x(2, 4, 3, dtype=torch.float16), 2, {}, TypeError, "float32 or float64"),
        (x(2, 4, 3), 2, {"basepoint": x(3, 3)}, ValueError, r"basepoint must have shape"),
        (
            x(2, 4, 3),
            2,
            {"basepoint": x(2, 3, dtype=torch.float32)},
            TypeError,
            "basepoint has dtype",
        ),
        (x(2, 4, 3), 2, {"basepoint": "yes"}, TypeError, "basepoint must be"),
        (x(2, 4, 3), 2, {"initial": x(2, 11)}, ValueError, r"initial must have shape"),
        (
            x(2, 4, 3),
            2,
            {"initial": x(2, 12), "scalar_term": True},
            ValueError,
            "initial must have",
        ),
        (x(2, 4, 3), 2, {"initial": x(2, 12, dtype=torch.float32)}, TypeError, "initial has dtype"),
        ({"points": [0.0, 1.0]}, 2, {}, TypeError, "torch.Tensor, a numpy.ndarray"),
        ([[0.0, 1.0], [1.0]], 2, {}, ValueError, "not a rectangular array"),
        ([["a", "b"], ["c", "d"]], 2, {}, TypeError, "array of numbers"),
        (x(4, 3), 2, {"initial": "zeros"}, TypeError, "initial must be a torch.Tensor"),
    ],
)
def test_bad_input(path, depth, kwargs, error, match):
    with pytest.raises(error, match=match):
        sigcg.signature(path, depth, **kwargs)


def test_nested_lists_are_taken_as_numpy_would():
    points = [[0.0, 1.0], [0.5, 2.0], [1.5, 1.0]]
    out = sigcg.signature(points, 3)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, sigcg.signature(np.asarray(points), 3))
    initial = sigcg.signature(np.asarray(points[:2]), 3).tolist()
    np.testing.assert_allclose(
        sigcg.signature(points[2:], 3, basepoint=points[1], initial=initial),
        out,
        rtol=1e-12,
        atol=1e-12,
    )


def test_too_large_says_how_large():
    with pytest.raises(MemoryError, match="GiB"):
        sigcg.signature(x(4, 3, 50), 12)


def test_device_mismatch_is_reported():
    path = x(2, 4, 3)
    meta_bp = torch.zeros(2, 3, dtype=torch.float64, device="meta")
    with pytest.raises(ValueError, match="same device"):
        sigcg.signature(path, 2, basepoint=meta_bp)


def test_helpers_validate():
    with pytest.raises(ValueError):
        sigcg.signature_channels(0, 3)
    with pytest.raises(ValueError):
        sigcg.Signature(0)
    with pytest.raises(ValueError, match="fewer than"):
        sigcg.extract_signature_term(torch.zeros(2, 5), 2, 2)
    with pytest.raises(ValueError):
        sigcg.set_num_threads(0)


def test_numpy_path_with_tensor_options_and_float32_numpy():
    p = random_path(2, 5, 2, seed=0).numpy().astype(np.float32)
    out = sigcg.signature(p, 3, basepoint=np.zeros((2, 2), np.float32))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (2, 14)
