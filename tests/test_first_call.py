"""A fresh process on a warm cache: importing sigcg and the first call of every public function
touch no compiler machinery (torch._dynamo, torch._inductor, sympy) unless torch.compile is used.
(Their timings are in benchmarks/bench_first_call.py.)"""

import json
import os
import subprocess
import sys

import sigcg

# Each public function once, with autograd where it has a backward: what a first training step
# or feature extraction does.  Run twice: the first process fills the cache, the second is the
# fresh process on a warm cache being checked.
SCRIPT = r"""
import json, sys, torch
import sigcg
heavy = ("torch._dynamo", "torch._inductor", "sympy")
report = {"import": [m for m in heavy if m in sys.modules]}
x = torch.randn(4, 12, 3, dtype=torch.float64)
xg = x.clone().requires_grad_()
s = sigcg.signature(x, 3)
calls = {
    "signature": lambda: sigcg.signature(xg, 3).sum().backward(),
    "signature:transforms": lambda: sigcg.signature(
        xg, 3, time_aug=True, lead_lag=True, lengths=[12, 5, 7, 2]).sum().backward(),
    "signature:windows": lambda: sigcg.signature(xg, 3, window=(5, 2)).sum().backward(),
    "logsignature:windows": lambda: sigcg.logsignature(
        xg, 3, windows=torch.tensor([[0, 4], [3, 12]])).sum().backward(),
    "Signature": lambda: sigcg.Signature(3, stream=True)(xg).sum().backward(),
    "logsignature": lambda: sigcg.logsignature(xg, 3, mode="brackets").sum().backward(),
    "LogSignature": lambda: sigcg.LogSignature(3)(x),
    "signature_to_logsignature": lambda: sigcg.signature_to_logsignature(s, 3, 3),
    "SignatureToLogSignature": lambda: sigcg.SignatureToLogSignature(3, 3)(s),
    "logsignature_to_signature": lambda: sigcg.logsignature_to_signature(
        sigcg.logsignature(x, 3), 3, 3),
    "signature_combine": lambda: sigcg.signature_combine(
        s.clone().requires_grad_(), s, 3, 3).sum().backward(),
    "multi_signature_combine": lambda: sigcg.multi_signature_combine([s, s, s], 3, 3),
    "signature_combine_backward": lambda: sigcg.signature_combine_backward(s, s, s, 3, 3),
    "signature_join": lambda: sigcg.signature_join(s, x[:, 0], 3),
    "signature_scale": lambda: sigcg.signature_scale(s, x[:, 0], 3),
    "signature_coefficient": lambda: sigcg.signature_coefficient(x, [(0, 1), (2,)]),
    "Path": lambda: sigcg.Path(xg, 3).signature(2, 9).sum().backward(),
    "extract_signature_term": lambda: sigcg.extract_signature_term(s, 3, 2),
    "invert_signature": lambda: sigcg.invert_signature(
        sigcg.signature(xg, 3), 3, 3).sum().backward(),
    "Augment": lambda: sigcg.signature(
        sigcg.Augment(3, (4, 2), 3).double()(xg), 3).sum().backward(),
    "Logsignature": lambda: sigcg.Logsignature(3)(x),
    "SignatureToLogsignature": lambda: sigcg.SignatureToLogsignature(3, 3)(s),
    "sig_kernel": lambda: sigcg.sig_kernel(xg, x, 1).sum().backward(),
    "sig_kernel_gram": lambda: sigcg.sig_kernel_gram(xg, dyadic_order=1).sum().backward(),
    "sig_mmd": lambda: sigcg.sig_mmd(xg, x[:3]).backward(),
    "sig_score": lambda: sigcg.sig_score(xg, x[:2]).sum().backward(),
    "SigKernel": lambda: sigcg.SigKernel(1)(xg, x).sum().backward(),
    "SigMMD": lambda: sigcg.SigMMD(1)(xg, x[:3]).backward(),
    "StaticKernel": lambda: sigcg.sig_kernel(xg, x, 0, sigcg.RBFKernel(1.0)).sum().backward(),
    **{name: (lambda k=getattr(sigcg, name): sigcg.sig_kernel(xg, x, 0, k()).sum().backward())
       for name in ("LinearKernel", "ScaledLinearKernel", "RBFKernel", "Matern12Kernel",
                    "Matern32Kernel", "Matern52Kernel", "RationalQuadraticKernel",
                    "PolynomialKernel")},
}
for name, call in calls.items():
    call()
    report[name] = [m for m in heavy if m in sys.modules]
print(json.dumps(report))
"""


def test_first_calls_import_no_compiler_machinery(tmp_path):
    env = dict(os.environ, SIGCG_CACHE_DIR=str(tmp_path / "cache"))
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {name: found for name, found in report.items() if found} == {}
    tensor_functions = set(sigcg.__all__) - {
        "all_words",
        "hall_basis",
        "index_to_word",
        "word_to_index",
        "logsignature_channels",
        "lyndon_brackets",
        "lyndon_words",
        "signature_channels",
        "get_num_threads",
        "set_num_threads",
        "precompile",
        "__version__",
        "max_parallelism",
        "unstable",
    }
    assert tensor_functions <= set(report), sorted(tensor_functions - set(report))
