"""Reference implementations that sigcg is timed against (plain JAX, no sigcg code)."""
