"""Restriction checks: flags for verified users, full records for owners and registrars.

    service.py       the check: limits, tiers of disclosure, the stored statement
    queries.py       the SQL: the check itself (one database call), stored checks, unit search
    schemas.py       the documented shape of a check's answer
    certificates.py  the printable certificate (PDF)
    routes.py        /check, /api/check (the fast GET is mounted first by portal.app), /verify
"""
