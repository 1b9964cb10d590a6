"""Hooks run for every request: the request log, injected faults, users' access activity and
the configured latency.

The HTTP (WSGI) edge sees every request whatever the service or outcome; moto's action layer
knows which action it routed to and is where faults are answered in moto's place.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from collections.abc import Callable
from typing import Any

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import BaseResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from sandbox.access_activity import KeyOwner, find_key_owner, record_key_use
from sandbox.credential_scope import CredentialScope, parse_authorization, scope_of_request
from sandbox.faults import fault_response, take_fault
from sandbox.latency import delay_request
from sandbox.request_actions import action_of_request
from sandbox.request_log import request_log

__all__ = ["IAM_SERVICE_PREFIX", "wrap_call_action", "wrap_wsgi_call"]

# moto's service names that differ from the service prefix of IAM actions (lambda:GetPolicy),
# so the request log and injected faults name services as policies do.
IAM_SERVICE_PREFIX = {"awslambda": "lambda"}


class _RequestContext:
    """What the action layer learns about the request the WSGI layer is answering."""

    def __init__(self) -> None:
        self.service: str | None = None
        self.action: str | None = None
        # An injected fault closes the connection instead of answering.
        self.drop = False


_LOCAL = threading.local()


def _current_context() -> _RequestContext | None:
    ctx: _RequestContext | None = getattr(_LOCAL, "ctx", None)
    return ctx


class _SignedRequest:
    """A request signed with an IAM user's own access key, to be recorded as their activity."""

    def __init__(self, owner: KeyOwner, scope: CredentialScope, action: str | None) -> None:
        self.owner = owner
        self.scope = scope
        self.action = action

    @classmethod
    def begin(cls, environ: dict[str, Any]) -> _SignedRequest | None:
        # The owner is looked up before moto runs: the request may delete the key or the user.
        scope = scope_of_request(environ)
        if scope is None:
            return None
        owner = find_key_owner(scope.access_key_id)
        if owner is None:
            return None
        return cls(owner, scope, action_of_request(environ, scope.service.lower()))

    def finish(self, routed_action: str | None) -> None:
        # Recorded whatever the outcome, as AWS records authenticated attempts. After moto's
        # own key stamp, so the signing namespace is what GetAccessKeyLastUsed reports.
        record_key_use(self.owner, self.scope, self.action or routed_action)


def wrap_wsgi_call(original: Callable[..., Any]) -> Callable[..., Any]:
    """Record every request at the WSGI edge, whatever service or outcome."""

    @functools.wraps(original)
    def __call__(
        self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any
    ) -> Any:
        ctx = _RequestContext()
        statuses: list[str] = []
        signed = _SignedRequest.begin(environ)

        def capturing_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        delay_request(environ)
        _LOCAL.ctx = ctx
        try:
            result = original(self, environ, capturing_start_response)
        except Exception:
            statuses.append("500")
            raise
        finally:
            _LOCAL.ctx = None
            if ctx.drop:
                _drop_connection(environ)
                statuses.clear()
            _log_wsgi(environ, ctx, statuses)
            if signed is not None:
                signed.finish(ctx.action)
        return result

    return __call__


def _drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's connection before any byte of the response is written; the server's
    write then fails, which werkzeug treats as a client that went away."""
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _log_wsgi(environ: dict[str, Any], ctx: _RequestContext, statuses: list[str]) -> None:
    scope = parse_authorization(environ.get("HTTP_AUTHORIZATION"))
    path = str(environ.get("PATH_INFO", "/"))
    service = ctx.service or (scope.service if scope else None)
    if service is None:
        service = "moto-api" if path.startswith("/moto-api") else "unknown"
    try:
        status = int(statuses[-1].split()[0]) if statuses else 0
    except ValueError:
        status = 0
    action = ctx.action
    if action is None and service == "s3":
        # S3's REST calls bypass moto's action layer: named from method, path and query.
        action = action_of_request(environ, "s3")
    request_log().record(
        service=service,
        action=action,
        status=status,
        access_key_id=scope.access_key_id if scope else None,
        region=scope.region if scope else None,
        method=str(environ.get("REQUEST_METHOD", "")),
        path=path,
    )


def _action_of(resp: BaseResponse) -> str | None:
    try:
        action = resp._get_action()
    except Exception:  # an unroutable request has no action; moto answers it itself
        return None
    return str(action) if action else None


def wrap_call_action(original: Callable[[BaseResponse], TYPE_RESPONSE]) -> Callable[..., Any]:
    """Tell the request log which action ran, and answer injected faults instead of moto."""

    @functools.wraps(original)
    def call_action(self: BaseResponse) -> TYPE_RESPONSE:
        moto_name = self.service_name or ""
        service = IAM_SERVICE_PREFIX.get(moto_name, moto_name)
        action = _action_of(self)
        ctx = _current_context()
        if ctx is not None:
            ctx.service, ctx.action = service, action
        fault = take_fault(service, action) if action else None
        if ctx is not None:
            if fault is not None and fault.drop:
                ctx.drop = True
            return fault_response(self, fault) if fault else original(self)
        # Outside the server (moto's in-process mocks) the action layer records the call; there
        # is no connection to drop, so a "drop" fault is answered as a 500 error.
        scope = parse_authorization(self.headers.get("Authorization"))
        owner = find_key_owner(scope.access_key_id) if scope else None
        status = 500
        try:
            response = fault_response(self, fault) if fault else original(self)
            status = int(response[0])
            return response
        finally:
            request_log().record(
                service=service,
                action=action,
                status=status,
                access_key_id=scope.access_key_id if scope else None,
                method=str(getattr(self, "method", "")),
                path=str(getattr(self, "path", "/")),
            )
            if owner is not None and scope is not None:
                record_key_use(owner, scope, action)

    return call_action
