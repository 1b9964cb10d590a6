"""``offboard server start|stop|status``: a persistent local Prefect server under
``OFFBOARD_HOME/prefect-server``, so that runs start at once and stay in its history (without
it, each command starts a temporary server)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli import local_server
from cli.errors import JsonOption, fail

server_app = typer.Typer(
    help="A persistent local Prefect server: runs start at once and keep their history.",
    no_args_is_help=True,
)


@server_app.command()
def start(
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")
    ] = local_server.DEFAULT_PORT,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the server to answer.")
    ] = local_server.START_TIMEOUT_SECONDS,
) -> None:
    """Start the local Prefect server in the background; returns once its API answers.

    Example: offboard server start && offboard run alice --yes
    """
    current = local_server.local_server()
    if current.up:
        typer.echo(f"already running: {current.ui_url} (API {current.api_url})")
        return
    try:
        server = local_server.start_local_server(port, timeout)
    except RuntimeError as exc:
        raise fail(str(exc), 1) from None
    typer.echo(f"running: {server.ui_url} (API {server.api_url}), files in {server.home}")
    typer.echo("offboard commands use it while it runs; other Prefect tools need:")
    typer.echo(f"export PREFECT_API_URL={server.api_url}")


@server_app.command()
def stop() -> None:
    """Stop the local Prefect server."""
    if local_server.stop_local_server():
        typer.echo("stopped")
    else:
        typer.echo("not running")


@server_app.command()
def status(as_json: JsonOption = False) -> None:
    """Say whether the local Prefect server is up, and its URL. Exit 0 up, 1 not running."""
    server = local_server.local_server()
    up = server.up
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "up": up,
                    "ui_url": server.ui_url,
                    "api_url": server.api_url,
                    "pid": server.pid if up else None,
                    "home": str(server.home),
                }
            )
        )
    elif up:
        typer.echo(f"up: {server.ui_url} (API {server.api_url}), pid {server.pid}")
    else:
        typer.echo(f"not running (would serve {server.ui_url}); start: offboard server start")
    raise typer.Exit(0 if up else 1)
