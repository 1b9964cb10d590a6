"""Entry points that start the engine's deployments from outside: the HR webhook receiver."""
