"""Machine clients: other departments' systems (planning, tax, courts), each with its own
credential and named scopes.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

A client presents a bearer token the portal made once; only its SHA-256 digest is stored (as
for user tokens). Its scopes follow the disclosure table of the domain brief:
`restriction_flags` (yes/no and counts for any unit, what a verified user sees),
`ownership_for_tax` (the owners of a unit and their shares, identity numbers masked), and
`seizures_for_courts` (active and queued seizures, what a court clerk sees). An administrator
creates and revokes clients; every creation and revocation leaves an audit row (the trigger),
and every call one in the client's name (the app).
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

SCOPES = ("restriction_flags", "ownership_for_tax", "seizures_for_courts")

UPGRADE = f"""
CREATE TABLE machine_clients (
    client_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{{2,63}}$'),
    department text NOT NULL CHECK (btrim(department) <> '' AND length(department) <= 200),
    scopes text[] NOT NULL CHECK (cardinality(scopes) > 0
        AND scopes <@ ARRAY[{", ".join(f"'{s}'" for s in SCOPES)}]::text[]),
    token_digest bytea NOT NULL UNIQUE CHECK (length(token_digest) = 32),
    per_minute integer NOT NULL DEFAULT 60 CHECK (per_minute BETWEEN 1 AND 100000),
    created_by bigint REFERENCES users (user_id),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_by bigint REFERENCES users (user_id),
    revoked_at timestamptz,
    CONSTRAINT machine_client_revocation CHECK (revoked_at IS NOT NULL OR revoked_by IS NULL)
);
CREATE UNIQUE INDEX machine_clients_name ON machine_clients (name);
COMMENT ON TABLE machine_clients IS
    'Other departments'' systems: a token (SHA-256 digest only), named scopes, a per-minute limit';

CREATE FUNCTION guard_machine_client() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'machine client %: clients are revoked, never deleted', OLD.name
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'machine client % is revoked and stays revoked', OLD.name
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.name <> OLD.name OR NEW.token_digest <> OLD.token_digest OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'machine client %: a client keeps its name and token; revoke it and create another',
            OLD.name USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER machine_clients_guard BEFORE UPDATE OR DELETE ON machine_clients
    FOR EACH ROW EXECUTE FUNCTION guard_machine_client();
CREATE TRIGGER machine_clients_audit_insert AFTER INSERT ON machine_clients REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION audit_registry_change('client_id');
CREATE TRIGGER machine_clients_audit_update AFTER UPDATE ON machine_clients REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION audit_registry_change('client_id');
"""

DOWNGRADE = """
DROP TABLE machine_clients;
DROP FUNCTION guard_machine_client();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
