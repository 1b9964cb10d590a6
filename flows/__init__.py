"""Prefect flows: orchestration only (which steps, in what order, what to do on failure)."""

from config.prefect_runtime import apply_prefect_defaults

# Every entry point (CLI, deployments' flow runs, benchmarks) imports the flows through here.
apply_prefect_defaults()
