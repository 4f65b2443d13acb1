"""Wrong kinds of argument values, fed to every public function: only a clear TypeError or
ValueError naming the argument may come out -- never a silent result, a raw AttributeError, an
error naming another function's argument, or a hang -- and runaway sizes are refused at once.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sigcg

F64 = torch.float64


def _quiet(fn):
    """fn without its DeprecationWarning (the wrong-argument errors are what is tested)."""
    import warnings

    def call(**kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return fn(**kwargs)

    return call


def good():
    """Valid arguments for each call: (callable, {argument name: value}).  Each callable takes
    its arguments by keyword."""
    x = torch.randn(3, 6, 2, dtype=F64)
    s = sigcg.signature(x, 3)
    s2 = sigcg.signature(x.flip(1), 3)
    log = sigcg.logsignature(x, 3)
    path_object = sigcg.Path(x, 3)
    return {
        "signature": (
            sigcg.signature,
            dict(
                path=x,
                depth=3,
                stream=False,
                basepoint=False,
                inverse=False,
                initial=s,
                scalar_term=False,
                time_aug=False,
                lead_lag=False,
                end_time=1.0,
                lengths=torch.tensor([6, 3, 4]),
            ),
        ),
        "signature:window": (sigcg.signature, dict(path=x, depth=3, window=(3, 2))),
        "signature:windows": (
            sigcg.signature,
            dict(path=x, depth=3, windows=torch.tensor([[0, 3], [2, 6]])),
        ),
        "logsignature": (
            sigcg.logsignature,
            dict(
                path=x,
                depth=3,
                stream=False,
                basepoint=False,
                inverse=False,
                mode="words",
                time_aug=True,
                lead_lag=False,
                end_time=1.0,
                lengths=[6, 3, 4],
            ),
        ),
        "logsignature:windows": (
            sigcg.logsignature,
            dict(path=x, depth=3, windows=np.array([[0, 3], [2, 6]]), window=None),
        ),
        "signature_to_logsignature": (
            sigcg.signature_to_logsignature,
            dict(
                signature=s, channels=2, depth=3, stream=False, mode="brackets", scalar_term=False
            ),
        ),
        "logsignature_to_signature": (
            sigcg.logsignature_to_signature,
            dict(
                logsignature=log, channels=2, depth=3, mode="words", stream=False, scalar_term=False
            ),
        ),
        "signature_combine": (
            sigcg.signature_combine,
            dict(
                sigtensor1=s,
                sigtensor2=s2,
                input_channels=2,
                depth=3,
                inverse=False,
                scalar_term=False,
            ),
        ),
        "multi_signature_combine": (
            sigcg.multi_signature_combine,
            dict(sigtensors=[s, s2], input_channels=2, depth=3, inverse=False, scalar_term=False),
        ),
        "signature_combine_backward": (
            sigcg.signature_combine_backward,
            dict(
                grad=s,
                sigtensor1=s,
                sigtensor2=s2,
                input_channels=2,
                depth=3,
                inverse=False,
                scalar_term=False,
            ),
        ),
        "signature_join": (sigcg.signature_join, dict(sigtensor=s, increments=x[:, 0], depth=3)),
        "signature_scale": (sigcg.signature_scale, dict(sigtensor=s, scales=x[:, 0], depth=3)),
        "signature_coefficient": (
            sigcg.signature_coefficient,
            dict(
                path=x,
                words=[(0, 1), (1,)],
                basepoint=False,
                time_aug=False,
                lead_lag=False,
                end_time=1.0,
            ),
        ),
        "extract_signature_term": (
            sigcg.extract_signature_term,
            dict(sigtensor=s, channels=2, depth=2, scalar_term=False),
        ),
        "signature_channels": (
            sigcg.signature_channels,
            dict(channels=2, depth=3, scalar_term=False),
        ),
        "logsignature_channels": (sigcg.logsignature_channels, dict(in_channels=2, depth=3)),
        "invert_signature": (
            sigcg.invert_signature,
            dict(signature=s, depth=3, channels=2, initial_position=x[:, 0]),
        ),
        "Augment": (
            sigcg.Augment,
            dict(
                in_channels=2,
                layer_sizes=(4, 3),
                kernel_size=2,
                stride=1,
                padding=0,
                dilation=1,
                bias=True,
                activation=torch.tanh,
                include_original=True,
                include_time=True,
            ),
        ),
        "Augment.forward": (sigcg.Augment(2, 3, 2).double(), dict(x=x)),
        "Logsignature": (sigcg.Logsignature, dict(depth=3, stream=False, mode="words")),
        "LogSignature.prepare": (sigcg.LogSignature(3).prepare, dict(in_channels=2)),
        "SignatureToLogsignature": (
            sigcg.SignatureToLogsignature,
            dict(channels=2, depth=3, mode="words"),
        ),
        "max_parallelism": (_quiet(sigcg.max_parallelism), dict(value=4)),
        "unstable.lyndon_words_to_basis_transform": (
            sigcg.unstable.lyndon_words_to_basis_transform,
            dict(channels=2, depth=3),
        ),
        "lyndon_words": (sigcg.lyndon_words, dict(channels=2, depth=3)),
        "lyndon_brackets": (sigcg.lyndon_brackets, dict(channels=2, depth=3)),
        "hall_basis": (sigcg.hall_basis, dict(channels=2, depth=3)),
        "all_words": (sigcg.all_words, dict(channels=2, depth=3)),
        "word_to_index": (sigcg.word_to_index, dict(word=[1, 0], channels=2)),
        "index_to_word": (sigcg.index_to_word, dict(index=3, channels=2, depth=3)),
        "Signature": (
            sigcg.Signature,
            dict(
                depth=3,
                stream=False,
                inverse=False,
                scalar_term=False,
                time_aug=False,
                lead_lag=False,
                end_time=1.0,
            ),
        ),
        "Signature.forward": (sigcg.Signature(3), dict(path=x, lengths=[6, 3, 4])),
        "LogSignature": (
            sigcg.LogSignature,
            dict(
                depth=3,
                stream=False,
                inverse=False,
                mode="words",
                time_aug=False,
                lead_lag=False,
                end_time=1.0,
            ),
        ),
        "SignatureToLogSignature": (
            sigcg.SignatureToLogSignature,
            dict(channels=2, depth=3, stream=False, mode="words", scalar_term=False),
        ),
        "Path": (
            sigcg.Path,
            dict(
                path=x,
                depth=3,
                basepoint=False,
                remember_path=True,
                scalar_term=False,
                time_aug=True,
                lead_lag=True,
                end_time=1.0,
            ),
        ),
        "Path.signature": (path_object.signature, dict(start=1, end=5)),
        "Path.update": (path_object.update, dict(path=x[:, :2])),
        "set_num_threads": (sigcg.set_num_threads, dict(n=1)),
    }


# Per argument name, values of the wrong kind or out of range (never a valid one).
ints = st.sampled_from([None, "3", 3.5, float("nan"), [3], True, torch.tensor(3)])
positive = st.one_of(ints, st.sampled_from([0, -1, -7]))
flags = st.sampled_from([None, "yes", 1, 0, 2.5, [], torch.tensor(True)])
modes = st.sampled_from([None, 3, "lie", "", b"words", "WORDS"])
tensors = st.sampled_from(
    [
        None,
        "x",
        3.0,
        [[1.0, 2.0]],
        torch.ones(3, 6, 2, dtype=torch.int64),
        torch.ones(3, 6, 2, dtype=torch.complex128),
        torch.tensor(1.0, dtype=F64),
        torch.ones(3, 6, 2, 1, dtype=F64),
        np.ones((3, 6, 2), dtype=np.int32),
        {"a": 1},
    ]
)
sig_shaped = st.one_of(tensors, st.just(torch.ones(3, 13, dtype=F64)))
# a float32 signature is wrong only next to float64 tensors it must match
mismatched = st.one_of(sig_shaped, st.just(torch.ones(3, 14, dtype=torch.float32)))
BAD = {
    "path": st.one_of(
        tensors, st.sampled_from([torch.ones(3, 1, 2, dtype=F64), torch.ones(3, 6, 0, dtype=F64)])
    ),
    "depth": st.one_of(positive, st.just(10**6)),
    "channels": positive,
    "input_channels": positive,
    "n": st.sampled_from([None, "2", 0, -2, 2.5, True]),
    "stream": flags,
    "inverse": flags,
    "scalar_term": flags,
    "remember_path": flags,
    "basepoint": st.sampled_from(
        [
            "origin",
            1,
            0,
            2.5,
            [0.0, 0.0],
            torch.ones(2, 2, dtype=F64),
            torch.ones(3, 2, dtype=torch.float32),
        ]
    ),
    "initial": mismatched.filter(lambda v: v is not None),  # None: no initial, valid
    "signature": sig_shaped,
    "sigtensor": mismatched,
    "sigtensor1": mismatched,
    "sigtensor2": mismatched,
    "grad": mismatched,
    "sigtensors": st.sampled_from(
        [None, 3, "ab", [], [torch.ones(3, 14, dtype=F64), "x"], torch.ones(3, 14, dtype=F64)]
    ),
    "logsignature": st.one_of(tensors, st.just(torch.ones(3, 4, dtype=F64))),
    "increments": st.one_of(tensors, st.just(torch.ones(3, dtype=F64))),
    "scales": st.one_of(tensors, st.just(torch.ones(3, 2, 2, dtype=F64))),
    "mode": modes,
    "words": st.sampled_from(
        [None, [], "ab", 5, [[]], [[0.5]], [[-1]], [[2]], [["a"]], [[0, True]]]
    ),
    "word": st.sampled_from([None, [], "ab", 5, [0.5], [-1], [2], ["a"]]),
    "index": st.sampled_from([None, "3", 3.5, -1, 14, 10**9]),
    "in_channels": positive,
    "initial_position": st.one_of(tensors, st.just(torch.ones(2, 2, dtype=F64))).filter(
        lambda v: v is not None
    ),
    "layer_sizes": st.sampled_from(["3", 3.5, 0, -1, (3, 0), (3, "a"), [2.5], True, None]),
    "kernel_size": positive,
    "stride": positive,
    "padding": st.sampled_from([None, "0", 1.5, -1, True]),
    "dilation": positive,
    "bias": flags,
    "activation": st.sampled_from([None, 3, "relu"]),
    "include_original": flags,
    "include_time": flags,
    "value": st.sampled_from(["4", 0, -3, 2.5, True, [4]]),
    "start": st.sampled_from(["1", 1.5, [1]]),
    "end": st.sampled_from(["5", 5.5]),
    "time_aug": flags,
    "lead_lag": flags,
    "end_time": st.sampled_from(
        [None, "1", [1.0], 0.0, -1.0, float("nan"), float("inf"), True, torch.tensor(1.0)]
    ),
    "lengths": st.sampled_from(
        [
            "3",
            3.5,
            3,
            True,
            [6.0, 3.0, 4.0],
            [6, 3],
            [6, 3, True],
            torch.tensor([6.0, 3.0, 4.0]),
            torch.tensor([6, 3]),
            torch.tensor([7, 3, 4]),
            torch.tensor([1, 3, 4]),
            torch.tensor([[6, 3, 4]]),
            np.array([6.0, 3.0, 4.0]),
            {"a": 1},
        ]
    ),
    "window": st.sampled_from(
        [3, "3", (3,), (3, 2, 1), (1, 2), (3, 0), (100, 1), (3.5, 2), [True, 1], {3: 2}]
    ),
    "windows": st.sampled_from(
        [
            "x",
            3,
            [[0]],
            [[0, 1]],
            [[0, 9]],
            [[-1, 2]],
            [[0, "a"]],
            np.array([[0.0, 2.0]]),
            torch.ones(2, 2),
            torch.tensor([[0, 2, 3]]),
            torch.zeros(0, 2, dtype=torch.int64),
        ]
    ),
}
# where the general strategy holds a valid value: a longer signature does hold level 2, a path
# of one point does extend a Path
SPECIAL = {
    ("extract_signature_term", "sigtensor"): st.one_of(tensors, st.just(torch.ones(3, 5))),
    ("Path.update", "path"): st.one_of(
        tensors,
        st.sampled_from(
            [
                torch.ones(3, 0, 2, dtype=F64),
                torch.ones(3, 6, 0, dtype=F64),
                torch.ones(2, 3, 2, dtype=F64),
            ]
        ),
    ),
}
GOOD = good()


def _sigkernel_good():
    """The signature kernels and their static kernels (sigcg.api.sigkernel)."""
    x, y = torch.randn(3, 6, 2, dtype=F64), torch.randn(3, 5, 2, dtype=F64)
    sigma = dict(sigma=1.0)
    transforms = dict(time_aug=True, lead_lag=False, end_time=1.0)
    pair = (torch.tensor([6, 3, 4]), [5, 2, 4])
    return {
        "sig_kernel": (
            sigcg.sig_kernel,
            dict(x=x, y=y, dyadic_order=1, return_grid=False, **transforms, lengths=pair),
        ),
        "sig_kernel_gram": (
            sigcg.sig_kernel_gram,
            dict(x=x, y=y, dyadic_order=0, return_grid=False, **transforms, lengths=pair),
        ),
        "sig_mmd": (
            sigcg.sig_mmd,
            dict(x=x, y=y, dyadic_order=0, unbiased=True, **transforms, lengths=pair),
        ),
        "sig_score": (
            sigcg.sig_score,
            dict(sample=x, y=y, lam=1.0, dyadic_order=0, **transforms, lengths=pair),
        ),
        "SigKernel": (sigcg.SigKernel, dict(dyadic_order=0, gram=False, **transforms)),
        "SigKernel.forward": (sigcg.SigKernel(0), dict(x=x, y=y, lengths=pair)),
        "SigMMD": (sigcg.SigMMD, dict(dyadic_order=0, unbiased=True, **transforms)),
        "StaticKernel": (sigcg.StaticKernel, {}),
        "LinearKernel": (sigcg.LinearKernel, {}),
        "ScaledLinearKernel": (sigcg.ScaledLinearKernel, dict(scale=1.0)),
        "RBFKernel": (sigcg.RBFKernel, sigma),
        "Matern12Kernel": (sigcg.Matern12Kernel, sigma),
        "Matern32Kernel": (sigcg.Matern32Kernel, sigma),
        "Matern52Kernel": (sigcg.Matern52Kernel, sigma),
        "RationalQuadraticKernel": (sigcg.RationalQuadraticKernel, dict(sigma=1.0, alpha=1.0)),
        "PolynomialKernel": (sigcg.PolynomialKernel, dict(degree=3.0, gamma=1.0, scale=1.0)),
    }


GOOD.update(_sigkernel_good())
_kernel_parameter = st.sampled_from([None, "1", [1.0], True, torch.ones(2), torch.tensor(1)])
BAD.update(
    x=BAD["path"],
    y=BAD["path"],
    sample=BAD["path"],
    dyadic_order=st.one_of(positive.filter(lambda v: v != 0), st.just(10**6), st.just((1, 2, 3))),
    return_grid=flags,
    unbiased=flags,
    gram=flags,
    lam=st.sampled_from([None, "1", [1.0], True, torch.ones(2)]),
    sigma=st.one_of(_kernel_parameter, st.sampled_from([0.0, -1.0, float("nan")])),
    alpha=st.one_of(_kernel_parameter, st.sampled_from([0.0, -1.0])),
    scale=st.one_of(_kernel_parameter, st.just(-1.0)),
    degree=st.one_of(_kernel_parameter, st.just(-1.0)),
    gamma=_kernel_parameter,
)
SPECIAL[("sig_kernel_gram", "y")] = BAD["path"].filter(lambda v: v is not None)  # None: x, x
# the signature kernels take a pair (lengths of x, lengths of y)
_pairs = st.sampled_from(
    [
        "x",
        3,
        [6, 3, 4],
        torch.tensor([6, 3, 4]),
        (torch.tensor([6, 3, 4]),),
        (torch.tensor([6.0, 3.0, 4.0]), None),
        (None, torch.tensor([9, 2, 2])),
        (None, [1, 2, 2]),
        (None, "x"),
    ]
)
for _name in ("sig_kernel", "sig_kernel_gram", "sig_mmd", "sig_score", "SigKernel.forward"):
    SPECIAL[(_name, "lengths")] = _pairs
CASES = [(name, arg) for name, (_, kwargs) in GOOD.items() for arg in kwargs]


def test_every_public_function_is_covered():
    covered = {name.split(".")[0] for name in GOOD}
    assert set(sigcg.__all__) - covered <= {"__version__", "get_num_threads", "precompile"}


@pytest.mark.parametrize("name,arg", CASES, ids=[f"{n}-{a}" for n, a in CASES])
@settings(
    max_examples=6, deadline=5000, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(data=st.data())
def test_wrong_kind_of_argument_is_a_clear_error_naming_it(name, arg, data):
    fn, kwargs = GOOD[name]
    strategy = SPECIAL.get((name, arg), BAD[arg])
    bad = data.draw(strategy, label=arg)
    with pytest.raises((TypeError, ValueError)) as info:
        fn(**dict(kwargs, **{arg: bad}))
    assert arg in str(info.value), f"{name}({arg}={bad!r}): {info.value}"


def test_flags_accept_numpy_bools_and_refuse_integers():
    x = torch.randn(2, 5, 2, dtype=F64)
    torch.testing.assert_close(
        sigcg.signature(x, 2, basepoint=np.True_), sigcg.signature(x, 2, basepoint=True)
    )
    with pytest.raises(TypeError, match="basepoint"):
        sigcg.signature(x, 2, basepoint=1)
    torch.testing.assert_close(
        sigcg.signature(x, 2, stream=np.True_), sigcg.signature(x, 2, stream=True)
    )


def test_negated_views_are_read_as_their_values():
    x = torch.randn(2, 5, 3, dtype=F64)
    view = torch._neg_view(x)
    assert view.is_neg() and view.is_contiguous()
    torch.testing.assert_close(sigcg.signature(view, 3), sigcg.signature(-x, 3))


RUNAWAY = [
    "sigcg.signature(torch.randn(2, 5, 1), 300)",
    "sigcg.lyndon_words(20, 8)",
    "sigcg.all_words(8, 9)",
    "sigcg.lyndon_brackets(20, 8)",
    "sigcg.hall_basis(8, 6)",
    "sigcg.logsignature(torch.randn(2, 5, 8), 6, mode='hall')",
    "sigcg.logsignature_to_signature(torch.randn(2, 5), 20, 8, mode='brackets')",
    "sigcg.signature(torch.randn(4, 3, 50), 12)",
]


@pytest.mark.parametrize("call", RUNAWAY)
def test_runaway_sizes_are_refused_at_once(call):
    """Each in a fresh process: refused within a second of the call, allocating < 100 MB."""
    code = f"""
import resource, time, torch, sigcg
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    {call}
except (ValueError, MemoryError) as exc:
    print(type(exc).__name__, time.perf_counter() - t,
          (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, str(exc)[:200])
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    kind, seconds, megabytes, message = proc.stdout.split(" ", 3)
    assert float(seconds) < 1.0 and float(megabytes) < 100, proc.stdout
