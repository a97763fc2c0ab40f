"""Layer 0: the shared contract (records, blob store, dead letters, limits, metrics, media probes).

Imports nothing from agents, trainer, streaming, app or bench."""
