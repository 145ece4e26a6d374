"""The app over real HTTP on the module's own copy of the demo cadastre (tests/support/account_fixtures)."""

from account_fixtures import client, demo, visitor  # noqa: F401
