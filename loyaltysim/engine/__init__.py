"""The engine: one replicate, both arms, day by day. Knows nothing of runs, results, presentation or the CLI."""
