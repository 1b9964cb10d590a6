"""Resource policies that name an IAM principal: scanning an account for them (scan.py), guarding
KMS keys (kms_admins.py) and cleaning them after a deletion (clean.py), a module per service.
Each module declares its PERMISSIONS; tasks.permissions collects them into the engine policy."""
