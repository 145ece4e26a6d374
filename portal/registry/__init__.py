"""The register's workflow: applications that change rights and restrictions under the law's rules.

    errors.py        what can go wrong, each with the rule and the blocking record
    parties.py       finding or recording the parties an application names
    seizures.py      the queue of seizures (轮候查封): promotion on release and expiry
    operations.py    what registering each kind of application changes
    applications.py  received -> under review -> registered | rejected, one transaction each
    statistics.py    the office's public performance figures
    queries.py       every SQL statement of the room
    schemas.py       what the JSON API sends (the whitelist of fields)
    api.py           JSON API: /api/applications, /api/statistics, /api/registry/units
    machine_api.py   what other departments' systems may ask, one scope each: /api/machine/*
    exchange/        an office's existing register in and out (docs/register-exchange.md)
    pages.py         the queue, an application, the statistics page
"""
