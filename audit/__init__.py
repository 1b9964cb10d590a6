"""The engine's own audit trail: append-only, hash-chained JSON lines."""
