"""Runs: simulate a scenario (replicates on an executor), compare scenarios, sweep a design."""
