"""IAM Identity Center: the identity store's users and memberships, and sso-admin's account
assignments and permission sets. One module per kind, as tasks/ is for IAM; the ordered
deletion steps are in :mod:`tasks.identity_center.procedure`."""
