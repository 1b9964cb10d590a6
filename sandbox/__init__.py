"""Embedded IAM sandbox: moto's server plus the IAM actions the offboarding engine needs.

moto (pinned to 5.2.x) serves IAM and STS over real HTTP; :func:`sandbox.extension.install`
adds the actions moto lacks (service-specific credentials, user permissions boundaries, service
last-accessed reports fed by what users do with their own keys), makes ``DeleteUser`` as strict
as AWS, keeps a renamed user's tags and state, honours time conditions in policies when IAM
authorization is enforced (:mod:`sandbox.auth`), shows a deleted user's unique id in the
resource policies that named it (S3, KMS, SQS, SNS, Secrets Manager, Lambda, ECR, role trust),
records every request and can inject faults;
each concern has its own module.
:class:`sandbox.server.Sandbox` runs it in-process on 127.0.0.1, and :mod:`sandbox.fixtures`
loads users carrying every attachment kind.

Nothing is re-exported here on purpose: importing moto's server stack takes a while, and
clients that only need :mod:`sandbox.fixtures` should not pay for it.
"""
