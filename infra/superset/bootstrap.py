"""Bring Superset's metadata to CityBrain's state, in one process with the app context.

Run by ``citybrain superset start`` with Superset's own interpreter (.venv-superset), never
by hand in the project environment:

    .venv-superset/bin/python infra/superset/bootstrap.py --assets DIR --district CODE

Steps, each idempotent: migrate the metadata DB (``superset db upgrade``), sync the built-in
roles (``superset init``), import the rendered assets (database, datasets, charts,
dashboards; overwriting what is there), create the roles CityAnalyst and DistrictAnalyst,
create or update the users admin, city_analyst and district_analyst (passwords from
CITYBRAIN_SUPERSET_{ADMIN,CITY_ANALYST,DISTRICT_ANALYST}_PASSWORD), and set the row-level
security rule that limits the district analyst to one district on every dataset with a
``district_code`` column. The district role is granted exactly those datasets: no
database or schema access, so SQL Lab lets it query only tables it has a dataset for,
and RLS_IN_SQLLAB rewrites those queries with the same rule.

Prints one JSON line with what it did, or {"error": ...}, as the last line of its output.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

DISTRICT_COLUMN = "district_code"
CITY_ROLE = "CityAnalyst"
DISTRICT_ROLE = "DistrictAnalyst"
RLS_NAME = "district analyst: own district only"
USERS = (
    # username, first name, last name, roles, password variable
    ("admin", "CityBrain", "Admin", ("Admin",), "CITYBRAIN_SUPERSET_ADMIN_PASSWORD"),
    ("city_analyst", "City", "Analyst", ("Gamma", "sql_lab", CITY_ROLE), "CITYBRAIN_SUPERSET_CITY_ANALYST_PASSWORD"),
    ("district_analyst", "District", "Analyst", ("Gamma", "sql_lab", DISTRICT_ROLE), "CITYBRAIN_SUPERSET_DISTRICT_ANALYST_PASSWORD"),
)


def read_assets(folder: Path) -> dict[str, str]:
    """{relative path: YAML text} of an export folder (metadata.yaml, databases/, datasets/, ...)."""
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.yaml"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=Path, required=True, help="folder of rendered Superset export YAML")
    parser.add_argument("--district", required=True, help="district_code the district analyst may see")
    args = parser.parse_args()
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,32}", args.district):
        raise SystemExit(f"bootstrap: district code {args.district!r} must be letters, digits, - or _")
    passwords = {name: os.environ.get(var, "") for name, _, _, _, var in USERS}
    missing = [var for name, _, _, _, var in USERS if not passwords[name]]
    if missing:
        raise SystemExit(f"bootstrap: {', '.join(missing)} not set")

    logging.getLogger("alembic").setLevel(logging.WARNING)
    from flask_migrate import upgrade
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from flask import g
        from superset import appbuilder, db, security_manager

        try:
            upgrade()
            appbuilder.add_permissions(update_perms=True)
            security_manager.sync_role_definitions()
            for role in (CITY_ROLE, DISTRICT_ROLE):
                security_manager.find_role(role) or security_manager.add_role(role)
            users = set_users(security_manager, db, passwords)
            g.user = security_manager.find_user(username="admin")  # the importer checks who imports
            imported = import_assets(read_assets(args.assets))
            datasets = set_roles(security_manager, db)
            rls = set_district_rls(db, security_manager, args.district)
            db.session.commit()
        except Exception as error:  # one line for the citybrain command; the traceback goes to the log
            logging.getLogger(__name__).exception("bootstrap failed")
            print(json.dumps({"error": f"{type(error).__name__}: {error}".splitlines()[0][:300]}), flush=True)
            return 1
    print(json.dumps({"imported": imported, "district_datasets": datasets, "users": users, "rls": rls}), flush=True)
    return 0


def import_assets(contents: dict[str, str]) -> dict[str, int]:
    from superset.commands.importers.v1.assets import ImportAssetsCommand

    if "metadata.yaml" not in contents:
        return {}
    ImportAssetsCommand(contents).run()
    kinds: dict[str, int] = {}
    for name in contents:
        if "/" in name:
            kind = name.split("/", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def _district_datasets(db) -> list:
    from superset.connectors.sqla.models import SqlaTable

    return sorted(
        (t for t in db.session.query(SqlaTable).all() if any(c.column_name == DISTRICT_COLUMN for c in t.columns)),
        key=lambda t: t.table_name,
    )


def _set_permissions(security_manager, role, wanted: list[tuple[str, str]]) -> None:
    """Make the role hold exactly these (permission, view menu) pairs."""
    pvms = [security_manager.add_permission_view_menu(permission, view) for permission, view in wanted]
    role.permissions = pvms


def set_roles(security_manager, db) -> list[str]:
    """CityAnalyst: every database (all of its tables, in charts and SQL Lab).
    DistrictAnalyst: only the datasets with a district column."""
    from superset.models.core import Database

    city = security_manager.find_role(CITY_ROLE)
    district = security_manager.find_role(DISTRICT_ROLE)
    _set_permissions(security_manager, city, [("database_access", d.perm) for d in db.session.query(Database).all()])
    tables = _district_datasets(db)
    _set_permissions(security_manager, district, [("datasource_access", t.perm) for t in tables])
    return [f"{t.schema}.{t.table_name}" if t.schema else t.table_name for t in tables]


def set_users(security_manager, db, passwords: dict[str, str]) -> list[str]:
    done = []
    for username, first, last, role_names, _ in USERS:
        roles = [security_manager.find_role(r) for r in role_names]
        if any(r is None for r in roles):
            raise SystemExit(f"bootstrap: a role of {username} is missing: {role_names}")
        user = security_manager.find_user(username=username)
        if user is None:
            user = security_manager.add_user(username, first, last, f"{username}@citybrain.invalid", roles, passwords[username])
            if not user:
                raise SystemExit(f"bootstrap: could not create user {username}")
        else:
            user.roles = roles
            user.active = True
            security_manager.reset_password(user.id, passwords[username])
        done.append(username)
    return done


def set_district_rls(db, security_manager, district: str) -> dict:
    """One rule, on every dataset with a district column, for the district role."""
    from superset.connectors.sqla.models import RowLevelSecurityFilter

    rule = db.session.query(RowLevelSecurityFilter).filter_by(name=RLS_NAME).one_or_none()
    if rule is None:
        rule = RowLevelSecurityFilter(name=RLS_NAME)
        db.session.add(rule)
    rule.description = "Managed by citybrain superset start (CITYBRAIN_SUPERSET_DISTRICT)."
    rule.filter_type = "Regular"
    rule.group_key = DISTRICT_COLUMN
    rule.clause = f"{DISTRICT_COLUMN} = '{district}'"
    rule.roles = [security_manager.find_role(DISTRICT_ROLE)]
    rule.tables = _district_datasets(db)
    return {"clause": rule.clause, "tables": len(rule.tables)}


if __name__ == "__main__":
    sys.exit(main())
