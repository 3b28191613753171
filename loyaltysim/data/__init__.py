"""Data in and out: calibrate a population from a transaction log; export runs for lifetime-value tools."""
