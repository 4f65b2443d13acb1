"""The public functions and modules (re-exported by ``sigcg``), Signatory 1.2 semantics, torch
tensors and NumPy arrays alike."""
