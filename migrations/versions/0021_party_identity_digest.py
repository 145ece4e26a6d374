"""Parties' identity numbers as keyed digest, masked form and sealed number; the plain column goes.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

Issue 20 ("identity numbers only as keyed digest plus masked form") and issue 15 (a stolen
dump reveals nothing). `parties.id_document_number` is replaced by:

- `id_document_digest`: HMAC-SHA256 of "<document type>:<number>" under the identity key, the
  digest the accounts already keep of verified identities (`portal.accounts.security.identity_digest`),
  so verification and look-ups join on it; one current party per digest (unique index);
- `id_document_masked`: the display form (`identity_numbers.mask_document_number`: first 3 and
  last 2 characters), its format CHECKed;
- `id_document_sealed`: the number under AES-256-GCM with the seal key (`identity_seal_key`),
  opened only for a registrar's audited reveal or an unmasked export.

Both keys live outside the database (settings, or files in the state directory); the data
migration reads them as the app does (`identity_keys()`, the environment's settings), and the
downgrade opens the sealed numbers with the same keys. The format and check-digit rules
(GB 11643, GB 32100) are checked in code before a number is sealed; the database can no longer
see the number, so the format CHECKs move to the masked form. The restriction check function
(migration 0007) returns the masked form where it returned the number. Applications' requests
(`applications.request`, which named new parties by their number) keep each number sealed the
same way (`portal.registry.parties.sealed_request`).
"""

from typing import Any

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_CHECK_SIGNATURE = ("restriction_check(bytea, text, text, text, text, text, integer, integer, text, text, text[], "
                    "text[], text[], text, text)")
# The masked form of an 18-character resident id or credit code: 3 characters, 13 stars, 2.
MASKED_18 = r"^[0-9A-Z]{3}\*{13}[0-9A-Z]{2}$"
MASKED_ANY = r"^[^*]{0,3}\*+[^*]{0,2}$"
_BATCH = 5000
NEW_COLUMNS = ("id_document_digest", "id_document_masked", "id_document_sealed")


def _replace_in_check_function(old: str, new: str) -> None:
    """Rewrite the restriction check function (whatever later migrations made of it) with `old`
    replaced by `new` in its body."""
    bind = op.get_bind()
    source = bind.exec_driver_sql(
        f"SELECT pg_get_functiondef('{_CHECK_SIGNATURE}'::regprocedure)").scalar_one()
    assert old in source, f"the restriction check function no longer reads {old}"
    bind.exec_driver_sql(source.replace(old, new).replace("%", "%%"))


def _rewrite_requests(how: str) -> None:
    """Applications' requests with their parties' numbers sealed (`sealed_request`) or opened
    again (`opened_request`); the guard that keeps a request from ever changing is off meanwhile."""
    import json

    from portal.registry import parties

    rewrite = getattr(parties, how)
    marker = "id_document_number" if how == "sealed_request" else "id_document_sealed"
    rows = _rows(f"SELECT application_id, request FROM applications WHERE strpos(request::text, '{marker}') > 0")
    if not rows:
        return
    bind = op.get_bind()
    bind.exec_driver_sql("ALTER TABLE applications DISABLE TRIGGER USER")
    for application_id, request in rows:
        bind.exec_driver_sql("UPDATE applications SET request = %(r)s::jsonb WHERE application_id = %(a)s",
                             {"r": json.dumps(rewrite(request), ensure_ascii=False), "a": application_id})
    bind.exec_driver_sql("ALTER TABLE applications ENABLE TRIGGER USER")


def _current_parties(replace: tuple[str, ...], by: tuple[str, ...]) -> str:
    """The view `current_parties` again with the columns it has (the table's as of migration 0001:
    later columns are not in it), `replace` put in place of `by`'s first column's position."""
    columns = [r[0] for r in _rows("SELECT attname FROM pg_attribute WHERE attrelid = 'current_parties'::regclass "
                                   "AND attnum > 0 AND NOT attisdropped ORDER BY attnum")]
    at = columns.index(by[0])
    columns = [c for c in columns[:at] if c not in by] + list(replace) + [c for c in columns[at:] if c not in by]
    return f"CREATE VIEW current_parties AS SELECT {', '.join(columns)} FROM parties WHERE end_lifespan IS NULL"


def _rows(sql: str) -> list[Any]:
    return list(op.get_bind().exec_driver_sql(sql).fetchall())


def upgrade() -> None:
    op.execute("""
        ALTER TABLE parties
            ADD COLUMN id_document_digest bytea,
            ADD COLUMN id_document_masked text,
            ADD COLUMN id_document_sealed bytea
    """)
    rows = _rows("SELECT version_id, id_document_type, id_document_number FROM parties ORDER BY version_id")
    if rows:
        from portal.accounts.security import identity_keys, party_identity

        keys = identity_keys()
        bind = op.get_bind()
        bind.exec_driver_sql("ALTER TABLE parties DISABLE TRIGGER parties_versioned")
        for start in range(0, len(rows), _BATCH):
            made = [(r[0], party_identity(keys, r[1], r[2])) for r in rows[start:start + _BATCH]]
            bind.exec_driver_sql(
                "UPDATE parties p SET id_document_digest = u.d, id_document_masked = u.m, id_document_sealed = u.s "
                "FROM unnest(%(v)s::bigint[], %(d)s::bytea[], %(m)s::text[], %(s)s::bytea[]) AS u(v, d, m, s) "
                "WHERE p.version_id = u.v",
                {"v": [v for v, _ in made], "d": [i.digest for _, i in made], "m": [i.masked for _, i in made],
                 "s": [i.sealed for _, i in made]})
        bind.exec_driver_sql("ALTER TABLE parties ENABLE TRIGGER parties_versioned")
    _replace_in_check_function("p.id_document_number", "p.id_document_masked")
    _rewrite_requests("sealed_request")
    view = _current_parties(NEW_COLUMNS, ("id_document_number",))
    op.execute(f"""
        DROP VIEW current_parties;
        DROP INDEX parties_current_document;
        DROP INDEX parties_document;
        ALTER TABLE parties
            DROP CONSTRAINT party_resident_id_format,
            DROP CONSTRAINT party_credit_code_format,
            DROP COLUMN id_document_number,
            ALTER COLUMN id_document_digest SET NOT NULL,
            ALTER COLUMN id_document_masked SET NOT NULL,
            ALTER COLUMN id_document_sealed SET NOT NULL,
            ADD CONSTRAINT party_document_digest CHECK (octet_length(id_document_digest) = 32),
            ADD CONSTRAINT party_document_sealed CHECK (octet_length(id_document_sealed) >= 29),
            ADD CONSTRAINT party_document_masked CHECK (id_document_masked ~ '{MASKED_ANY}'),
            ADD CONSTRAINT party_resident_id_masked CHECK (
                id_document_type <> 'resident_id' OR id_document_masked ~ '{MASKED_18}'),
            ADD CONSTRAINT party_credit_code_masked CHECK (
                id_document_type <> 'unified_social_credit_code' OR id_document_masked ~ '{MASKED_18}');
        CREATE UNIQUE INDEX parties_current_document ON parties (id_document_digest) WHERE end_lifespan IS NULL;
        CREATE INDEX parties_document ON parties (id_document_digest);
        {view};
        COMMENT ON COLUMN parties.id_document_digest IS
            'HMAC-SHA256 of type:number under the identity key (outside the database): matching only';
        COMMENT ON COLUMN parties.id_document_masked IS 'the number masked for display: first 3 and last 2 characters';
        COMMENT ON COLUMN parties.id_document_sealed IS
            'the number under AES-256-GCM with the seal key (outside the database): audited reveal and export only';
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE parties ADD COLUMN id_document_number text")
    rows = _rows("SELECT version_id, id_document_digest, id_document_sealed FROM parties ORDER BY version_id")
    bind = op.get_bind()
    if rows:
        from portal.accounts.security import identity_keys, unseal_identity

        keys = identity_keys()
        bind.exec_driver_sql("ALTER TABLE parties DISABLE TRIGGER parties_versioned")
        for start in range(0, len(rows), _BATCH):
            batch = rows[start:start + _BATCH]
            bind.exec_driver_sql(
                "UPDATE parties p SET id_document_number = u.n FROM unnest(%(v)s::bigint[], %(n)s::text[]) AS u(v, n) "
                "WHERE p.version_id = u.v",
                {"v": [r[0] for r in batch], "n": [unseal_identity(keys.seal, r[1], r[2]) for r in batch]})
        bind.exec_driver_sql("ALTER TABLE parties ENABLE TRIGGER parties_versioned")
    _replace_in_check_function("p.id_document_masked", "p.id_document_number")
    _rewrite_requests("opened_request")
    view = _current_parties(("id_document_number",), NEW_COLUMNS)
    op.execute(f"""
        DROP VIEW current_parties;
        DROP INDEX parties_current_document;
        DROP INDEX parties_document;
        ALTER TABLE parties
            DROP CONSTRAINT party_document_digest,
            DROP CONSTRAINT party_document_sealed,
            DROP CONSTRAINT party_document_masked,
            DROP CONSTRAINT party_resident_id_masked,
            DROP CONSTRAINT party_credit_code_masked,
            DROP COLUMN id_document_digest,
            DROP COLUMN id_document_masked,
            DROP COLUMN id_document_sealed,
            ALTER COLUMN id_document_number SET NOT NULL,
            ADD CONSTRAINT parties_id_document_number_check CHECK (btrim(id_document_number) <> ''),
            ADD CONSTRAINT party_resident_id_format CHECK (
                id_document_type <> 'resident_id' OR id_document_number ~ '^[1-9][0-9]{{16}}[0-9X]$'),
            ADD CONSTRAINT party_credit_code_format CHECK (
                id_document_type <> 'unified_social_credit_code'
                OR id_document_number ~ '^[0-9A-HJ-NPQRTUWXY]{{2}}[0-9]{{6}}[0-9A-HJ-NPQRTUWXY]{{10}}$');
        CREATE UNIQUE INDEX parties_current_document ON parties (id_document_type, id_document_number)
            WHERE end_lifespan IS NULL;
        CREATE INDEX parties_document ON parties (id_document_number);
        {view};
        COMMENT ON COLUMN parties.id_document_number IS
            'personal data: never in URLs or logs, masked for all but registrars';
    """)
