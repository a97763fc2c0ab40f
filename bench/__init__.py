"""The refinement benchmark (`tailor bench quality`): versioned cases built from real recordings, each
with a reference output taken from the data's own annotations, and the DataClaw0-val style scoring of
what a synthesis backend makes of them (see docs/benchmark.md)."""
