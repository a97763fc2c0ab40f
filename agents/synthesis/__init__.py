"""Synthesis backends: one interface, selected by name (`vllm`, `hf`, `rules`)."""
