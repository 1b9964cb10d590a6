"""``offboard demo``: the main job, end to end, on a fresh embedded sandbox."""

from __future__ import annotations

import os

from cli import render
from tasks.aws import iam_client, set_client_factory


def run_demo() -> int:
    from sandbox.fixtures import seed_demo_users
    from sandbox.server import Sandbox

    console = render.console
    with Sandbox(port=0) as box:
        os.environ.update(box.env())
        set_client_factory(None)  # rebuild clients against the sandbox endpoint
        console.rule(f"IAM sandbox at {box.endpoint}")
        names = seed_demo_users(iam_client())
        console.print(f"seeded demo users: {', '.join(names)}")
        target = names[0]

        from flows.offboard_user import run_offboarding
        from tasks.inventory import take_inventory
        from tasks.listing import list_users
        from tasks.user import resolve_user

        console.rule(f"1. plan for {target} (no changes)")
        console.print(render.plan_table(resolve_user(target), take_inventory.fn(target)))

        console.rule(f"2. offboard {target} through the Prefect flow")
        report = run_offboarding(user_name=target, reason="demo: left the company", ticket="DEMO-1")
        render.print_report(report)

        console.rule("3. IAM users now")
        remaining = list_users()
        console.print(render.users_table(remaining))
        from audit.trail import default_trail, read_records, verify

        console.rule("4. audit trail")
        trail = default_trail().path
        ours = [r for r in read_records(trail) if r.run_id == report.run_id]
        for record in ours:
            console.print(f"{record.seq:>5} {record.step:<29} {record.action:<52} {record.outcome}")
        chain = verify(trail)
        console.print(
            f"{trail}: chain {'intact' if chain.ok else 'BROKEN'}, head {chain.head_hash}"
        )
        gone = all(user.user_name != target for user in remaining)
        verdict = "is gone" if gone else "is STILL PRESENT"
        console.print(f"[bold]{target} {verdict}[/bold]; outcome {report.outcome}")
        return 0 if gone and report.outcome == "deleted" and chain.ok else 1
