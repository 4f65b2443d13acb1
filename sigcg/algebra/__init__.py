"""Tensor-algebra tables and helpers the public functions are built on: Lyndon and Hall bases and
their changes of basis (lyndon.py, NumPy), the antipode and level slices (tensor.py, torch)."""
