"""Shared machinery every room stands on; it imports no room.

    db.py           which database, and the application's pools
    cluster.py      the PostgreSQL + PostGIS cluster the project runs itself
    replicas.py     public reads from streaming replicas
    migrate.py      Alembic migrations
    backup.py       pg_dump / pg_restore of the whole cadastre
    work.py         the unit of work (rolls back unless committed) and blocking work off the event loop
    deps.py         named dependencies: Connection, ReadConnection, CurrentPrincipal, PageUser
    errors.py       the one error model: CadastreError (status, code, safe message, log message)
    middleware.py   security headers and the request body limit
    timing.py       the Server-Timing header
    permissions.py  roles, actions, the principal, and `require(action)`
    versioning.py   superseding a versioned row: end the current version, insert the next
    requests.py     facts of a request every room reads the same way: the client, a JSON body
    queries.py      the SQL of this package (health, cluster, backup, replicas)
    rows.py         `one_row`: the row of a statement that always returns one
    clock.py        the office's time zone
    slots.py        heavy work one user may have at once (uploads, renders, warps): 429 uploads_at_once
"""
