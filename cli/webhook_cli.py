"""``offboard webhook``: receive HR events and start the matching flow runs."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cli.errors import cli_errors


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    def webhook(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8787,
    ) -> None:
        """Serve POST /hr/events (signed with OFFBOARD_WEBHOOK_SECRET) until interrupted.

        Termination, leave and return events start the offboard-user, deactivate-user and
        reactivate-user deployments on the Prefect API named by PREFECT_API_URL.
        """
        import uvicorn

        from deploy.webhook import create_app

        receiver = create_app()
        if not os.environ.get("PREFECT_API_URL"):
            # Without it Prefect starts a temporary server that has none of the deployments.
            typer.echo("offboard: warning: PREFECT_API_URL is not set", err=True)
        uvicorn.run(receiver, host=host, port=port)
