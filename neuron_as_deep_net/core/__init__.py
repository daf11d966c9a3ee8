"""The shared core: parameters and CLI, atomic files, metrics, windows, fast inference, parallel runs, plots."""
