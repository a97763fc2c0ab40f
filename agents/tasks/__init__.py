"""Task families, validators and rule-only synthesis of stage 2 (see docs/task_families.md)."""
