"""The ``offboard`` command line."""
