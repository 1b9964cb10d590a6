"""IAM-facing tasks: the only package that calls AWS."""
