"""`python -m portal.cli`: the same as the `cadastre` command."""

from portal.cli import main

main()
