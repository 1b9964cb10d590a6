"""Settings and logging for the offboarding engine."""
