"""Presentation: plots (data and an axes in, the axes out), report pages, number formats."""
