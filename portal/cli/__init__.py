"""The `cadastre` command: one module per command group.

The group builds `Settings` once (a setting refused by a validator ends the command with its
message) and hands it to every command as click's context `obj` (`context.pass_settings`):

- `database`: `db start|stop|status|reset`, `migrate`, `downgrade`
- `demo`: `demo`;  `surveys`: `import`;  `backup`: `backup`, `restore`
- `registry`: `registry expire`;  `register`: `register import|export|template`;  `serve`: `serve`
- `audit`: `audit verify|export|grant-app-role`;  `users`: `user add`;  `guide`: `guide export|import`
- `clients`: `client add|list|revoke` (machine clients of other departments)
"""

from __future__ import annotations

import click
from pydantic import ValidationError

from portal.cli import audit, backup, clients, database, demo, guide, keys, register, registry, serve, surveys, users
from portal.settings import Settings, refusal

__all__ = ["main"]


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Open cadastral information and public disclosure portal."""
    try:
        ctx.obj = Settings()
    except ValidationError as error:
        raise click.ClickException(refusal(error)) from error


for command in (database.db, database.migrate, database.downgrade, demo.demo, surveys.import_, backup.backup_,
                backup.restore_, registry.registry, register.register, serve.serve, audit.audit, users.user,
                guide.guide, clients.client, keys.keys):
    main.add_command(command)
