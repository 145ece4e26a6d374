"""A live server on a demo district of the module's own (tests/support/live_site)."""

from account_fixtures import visitor  # noqa: F401
from live_site import live_site  # noqa: F401
