"""``python -m sandbox --port N [--seed-demo]``: serve the embedded IAM sandbox."""

from sandbox.server import main

if __name__ == "__main__":
    raise SystemExit(main())
