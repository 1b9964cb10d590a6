"""Prefect flows: orchestration only (which steps, in what order, what to do on failure)."""
