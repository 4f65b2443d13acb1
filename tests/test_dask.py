"""sigcg.dask on a LocalCluster of 2 worker processes: results equal the in-memory computation,
kernels come from one exported cache (made read-only here) and no worker compiles anything."""

import os
import stat
import warnings

import numpy as np
import pytest

import sigcg

if not os.environ.get("CI"):  # CI installs dask (make install): there it must run
    pytest.importorskip("distributed")

import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import sigcg.dask as sdask  # noqa: E402


def _read_only(root, on):
    for top, dirs, files in os.walk(root):
        for name in [*dirs, *files, ""]:
            path = os.path.join(top, name) if name else top
            mode = os.stat(path).st_mode
            os.chmod(path, mode & ~0o222 if on else mode | stat.S_IWUSR)


def test_dask_signature_logsignature_gram_on_two_workers(tmp_path):
    export = sdask.prepare(
        tmp_path / "kernels", channels=[3], depths=[3], dtypes=["float64"], jobs=2
    )
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((24, 12, 3)).cumsum(1) / 4
    yn = rng.standard_normal((10, 9, 3)).cumsum(1) / 4
    x = da.from_array(xn, chunks=(6, 12, 3))
    y = da.from_array(yn, chunks=(5, 9, 3))

    def count_compiles():
        from sigcg.runtime import cpu

        real = cpu.compile_extension
        counter = {"n": 0, "specs": []}

        def counted(*args, **kwargs):
            counter["n"] += 1
            counter["specs"] += [s for s in args[1].splitlines() if s.startswith(" * spec:")]
            return real(*args, **kwargs)

        cpu.compile_extension = counted
        cpu._sigcg_test_counter = counter  # type: ignore[attr-defined]

    def compiled_and_root():
        from sigcg.runtime import cpu

        counter = cpu._sigcg_test_counter  # type: ignore[attr-defined]
        return counter["n"], str(cpu.cache.root), counter["specs"]

    _read_only(export, True)
    try:
        with (
            warnings.catch_warnings(),
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            ) as cluster,
            Client(cluster) as client,
        ):
            warnings.simplefilter("ignore")
            sdask.use_cache(client, export)
            client.run(count_compiles)
            sig = sdask.signature(x, 3)
            assert sig.shape == (24, 39) and sig.chunks[0] == (6, 6, 6, 6)
            np.testing.assert_array_equal(sig.compute(), sigcg.signature(xn, 3))
            stream = sdask.signature(x, 3, stream=True, basepoint=True).compute()
            np.testing.assert_array_equal(
                stream, sigcg.signature(xn, 3, stream=True, basepoint=True)
            )
            logsig = sdask.logsignature(x, 3).compute()
            np.testing.assert_array_equal(logsig, sigcg.logsignature(xn, 3))
            gram = sdask.sig_kernel_gram(x, y).compute()
            assert gram.shape == (24, 10)
            np.testing.assert_allclose(gram, sigcg.sig_kernel_gram(xn, yn), rtol=1e-13)
            both = client.run(compiled_and_root)
            assert len(both) == 2
            assert all(n == 0 for n, _, _ in both.values()), both  # no worker compiled
            assert all(root == str(export) for _, root, _ in both.values())
    finally:
        _read_only(export, False)


def test_dask_inputs_are_checked():
    with pytest.raises(TypeError, match="dask array"):
        sdask.signature(np.zeros((2, 3, 2)), 2)
    with pytest.raises(ValueError, match="batch, length, channels"):
        sdask.signature(da.zeros((2, 3)), 2)
    # chunks along length or channels are merged: a path is never cut
    x = sdask.signature(da.zeros((4, 6, 2), chunks=(2, 3, 1)), 2)
    assert x.chunks == ((2, 2), (6,))
