"""The helpers list commands use for tags: the registry, `tag_filter` (all pairs) and `tags_for`."""

import pytest
from sandstack.core import auth
from sandstack.core.context import Context
from sandstack.core.errors import InvalidParameter
from sandstack.core.server import ManagementServer
from sandstack.infra.models import DataCenter
from sandstack.platform import tags
from sandstack.platform.models import ResourceTag
from sqlalchemy import select


@pytest.fixture
def ctx(tmp_path):
    server = ManagementServer(f"sqlite:///{tmp_path / 'tags.db'}")
    server.prepare()
    context = Context(server, None, auth.by_user_id(server, 2))
    yield context
    context.close()
    server.engine.dispose()


def zone(ctx, name: str, **pairs) -> DataCenter:
    row = DataCenter(name=name, networktype="Advanced", zone_token=name)
    ctx.db.add(row)
    ctx.db.flush()
    for key, value in pairs.items():
        ctx.db.add(ResourceTag(key=key, value=value, resource_type="Zone", resource_id=row.id,
                               resource_uuid=row.uuid, account_id=1, domain_id=1))
    ctx.db.flush()
    return row


def names(ctx, tag_map) -> list[str]:
    query = tags.tag_filter(ctx, select(DataCenter), DataCenter, "zone", tag_map).order_by(DataCenter.id)
    return [z.name for z in ctx.db.scalars(query)]


def test_tag_filter_needs_every_pair(ctx):
    zone(ctx, "a", env="prod", tier="gold")
    zone(ctx, "b", env="prod")
    zone(ctx, "c")
    assert names(ctx, [{"key": "env", "value": "prod"}]) == ["a", "b"]
    assert names(ctx, {"env": "prod", "tier": "gold"}) == ["a"]
    assert names(ctx, [{"key": "tier"}]) == ["a"]  # a key alone matches any value
    assert names(ctx, [{"env": "prod"}, {"tier": "silver"}]) == []  # the `tags[0].k=v` form too
    assert names(ctx, None) == ["a", "b", "c"]


def test_tags_for_answers_a_page_in_one_go(ctx):
    first, second = zone(ctx, "a", env="prod", tier="gold"), zone(ctx, "b")
    found = tags.tags_for(ctx, "Zone", [first.id, second.id])
    assert [(t["key"], t["value"], t["account"], t["resourceid"]) for t in found[first.id]] == [
        ("env", "prod", "system", first.uuid), ("tier", "gold", "system", first.uuid)]
    assert found[second.id] == []
    items = tags.fill_tags(ctx, "Zone", [{"id": second.uuid}, {"id": first.uuid}])
    assert [len(item["tags"]) for item in items] == [0, 2]


def test_taggable_types_are_case_insensitive_and_extensible(ctx):
    assert tags.taggable("uservm").name == "UserVm" and tags.taggable("ISO").name == "ISO"
    with pytest.raises(InvalidParameter, match="Invalid resource type Gadget"):
        tags.taggable("Gadget")
    tags.register_taggable("Gadget", DataCenter)
    try:
        assert tags.taggable("gadget").model is DataCenter
    finally:
        tags.TAGGABLE.pop("gadget")
