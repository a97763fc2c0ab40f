"""Layer 3: entrypoints and application services (CLI, worker and trainer services, demo, status,
exports, benchmark glue). Nothing below imports it."""
