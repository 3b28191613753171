"""The per-agent Mesa model of the engine's core rules: a test oracle and the speed baseline."""
