"""The command line (``sigcg`` / ``python -m sigcg``), precompiling, the demo."""
