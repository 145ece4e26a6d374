"""A live server on a demo district of the module's own, and throwaway clusters (tests/support/live_site)."""

from live_site import live_site, scratch_cluster  # noqa: F401
