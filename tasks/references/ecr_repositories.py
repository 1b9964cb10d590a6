"""ECR repository policies that name principals, in one region, and taking principals out of
one."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from tasks.errors import error_code
from tasks.references.clients import region_of, regional_client
from tasks.references.found import Read, Reference, merged, read_or_refused, references_in
from tasks.references.parallel import each
from tasks.references.rewrite import Rewrite, rewritten

PERMISSIONS = (
    "ecr:DescribeRepositories",
    "ecr:GetRepositoryPolicy",
    "ecr:SetRepositoryPolicy",
    "ecr:DeleteRepositoryPolicy",
)
NO_POLICY = "RepositoryPolicyNotFoundException"


def _policy(client: Any, registry: str, name: str) -> dict[str, Any] | None:
    try:
        answer = client.get_repository_policy(registryId=registry, repositoryName=name)
    except ClientError as error:
        if error_code(error) == NO_POLICY:
            return None
        raise
    text = answer.get("policyText")
    return json.loads(text) if text else None


def repository_references(region: str) -> Read:
    client = regional_client("ecr", region)
    pages = client.get_paginator("describe_repositories").paginate()
    repositories = [repository for page in pages for repository in page.get("repositories", [])]

    def read(repository: dict[str, Any]) -> list[Reference]:
        policy = _policy(client, repository["registryId"], repository["repositoryName"])
        return references_in("ecr", region, repository["repositoryArn"], policy) if policy else []

    return merged(
        each(
            repositories,
            lambda repo: read_or_refused("ecr", region, repo["repositoryArn"], lambda: read(repo)),
        )
    )


def clean_repository(repository_arn: str, names: set[str]) -> Rewrite | None:
    # arn:aws:ecr:REGION:REGISTRY:repository/NAME, where NAME may hold slashes.
    registry = repository_arn.split(":")[4]
    name = repository_arn.split(":repository/", 1)[1]
    client = regional_client("ecr", region_of(repository_arn))
    old = _policy(client, registry, name)
    if old is None:
        return None
    change = rewritten(old, names)
    if change is None:
        return None
    if change.new["Statement"]:
        client.set_repository_policy(
            registryId=registry, repositoryName=name, policyText=json.dumps(change.new)
        )
    else:
        # ECR refuses a policy without statements: the policy goes instead.
        client.delete_repository_policy(registryId=registry, repositoryName=name)
    return change
