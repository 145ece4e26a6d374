"""Separation of duties: nobody decides their own work, nobody grants themselves a role, and a
role that sees personal data takes two administrators.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

- A submission is never decided (approved or rejected) by the account that uploaded it, and an
  application never by the account that received it: CHECK constraints, NOT VALID so that a
  deployment whose history already holds such a decision still migrates (every new or changed
  row is checked; `ALTER TABLE ... VALIDATE CONSTRAINT` once the history is reviewed).
- `role_grants`: a role that sees personal data (registrar, court clerk, auditor; see
  `portal.platform.permissions.PERSONAL_DATA_ROLES`) or the administrator role, given in the
  portal, is first a pending grant requested by one administrator and takes effect when a
  different administrator confirms it. The grantee can neither request nor confirm it.
- A trigger on `users` refuses, when the portal names the actor (`cadastre.actor_user_id`, set
  by the app for the transaction), a change of the actor's own roles, and any added role of
  those above that no grant confirmed in the same transaction allows. Writers that name no
  actor (the operator's `cadastre user add`, the demo loader, migrations) are not bound by it.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Roles whose grant needs a second administrator; the app's list is checked against this one.
CONFIRMED_ROLES = ("registrar", "court_clerk", "auditor", "administrator")
STAFF_ROLES = ("surveyor", "registrar", "court_clerk", "auditor", "administrator")


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]::text[]"


UPGRADE = rf"""
ALTER TABLE submissions ADD CONSTRAINT submission_not_decided_by_its_author
    CHECK (decided_by <> created_by) NOT VALID;
ALTER TABLE applications ADD CONSTRAINT application_not_decided_by_its_receiver
    CHECK (decided_by <> received_by) NOT VALID;

CREATE TABLE role_grants (
    grant_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (user_id),
    role text NOT NULL CHECK (role = ANY ({_array(STAFF_ROLES)})),
    institution text CHECK (institution IS NULL OR btrim(institution) <> ''),
    requested_by bigint NOT NULL REFERENCES users (user_id),
    requested_at timestamptz NOT NULL DEFAULT now(),
    confirmed_by bigint REFERENCES users (user_id),
    confirmed_at timestamptz,
    withdrawn_at timestamptz,
    CONSTRAINT role_grant_not_to_oneself CHECK (requested_by <> user_id),
    CONSTRAINT role_grant_second_administrator CHECK (confirmed_by <> requested_by AND confirmed_by <> user_id),
    CONSTRAINT role_grant_confirmation CHECK ((confirmed_by IS NULL) = (confirmed_at IS NULL)),
    CONSTRAINT role_grant_confirmed_or_withdrawn CHECK (confirmed_at IS NULL OR withdrawn_at IS NULL)
);
CREATE UNIQUE INDEX role_grants_pending ON role_grants (user_id, role)
    WHERE confirmed_at IS NULL AND withdrawn_at IS NULL;
COMMENT ON TABLE role_grants IS
    'Roles given in the portal that need a second administrator: requested, then confirmed (or withdrawn)';

CREATE FUNCTION guard_user_roles() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor bigint := nullif(current_setting('cadastre.actor_user_id', true), '')::bigint;
    unconfirmed text;
BEGIN
    IF actor IS NULL OR (NEW.roles @> OLD.roles AND OLD.roles @> NEW.roles) THEN
        RETURN NEW;
    END IF;
    IF actor = OLD.user_id THEN
        RAISE EXCEPTION 'rule own_roles: user % cannot change their own roles', OLD.user_id
            USING ERRCODE = 'insufficient_privilege', DETAIL = 'rule=own_roles';
    END IF;
    SELECT r INTO unconfirmed FROM unnest(NEW.roles) AS r
     WHERE r = ANY ({_array(CONFIRMED_ROLES)}) AND NOT r = ANY (OLD.roles)
       AND NOT EXISTS (SELECT 1 FROM role_grants g
                        WHERE g.user_id = OLD.user_id AND g.role = r AND g.confirmed_at = now())
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'rule second_administrator: the role % of user % needs a grant confirmed by a second '
            'administrator', unconfirmed, OLD.user_id
            USING ERRCODE = 'insufficient_privilege', DETAIL = 'rule=second_administrator';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER users_roles_guard BEFORE UPDATE OF roles ON users
    FOR EACH ROW EXECUTE FUNCTION guard_user_roles();

CREATE TRIGGER role_grants_audit_insert AFTER INSERT ON role_grants REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION audit_registry_change('grant_id');
CREATE TRIGGER role_grants_audit_update AFTER UPDATE ON role_grants REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION audit_registry_change('grant_id');
"""

DOWNGRADE = """
DROP TRIGGER users_roles_guard ON users;
DROP FUNCTION guard_user_roles();
DROP TABLE role_grants;
ALTER TABLE applications DROP CONSTRAINT application_not_decided_by_its_receiver;
ALTER TABLE submissions DROP CONSTRAINT submission_not_decided_by_its_author;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
