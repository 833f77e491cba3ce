"""Platform: global settings and capabilities, hypervisors, and resource tags (server/platform)."""

from __future__ import annotations

from typing import Any

from .resource import Api, Record, Resource, api_of, hybridmethod


class Configurations(Resource):
    list_command = "listConfigurations"

    @hybridmethod
    def update(cls, self, apiclient: Any = None, name: str | None = None, value: Any = None,
               **scope: Any) -> Any:
        """Set a global setting (or one scoped by zoneid, clusterid, storageid, domainid, accountid)."""
        api = api_of(apiclient) if self is None else self.api(apiclient)
        return api.call("updateConfiguration", name=name or self.name, value=value, **scope)

    @classmethod
    def reset(cls, apiclient: Any, name: str, **scope: Any) -> Any:
        return api_of(apiclient).call("resetConfiguration", name=name, **scope)

    @classmethod
    def listCapabilities(cls, apiclient: Any, **kwargs: Any) -> Record:
        return Record(api_of(apiclient).call("listCapabilities", **kwargs))

    def fetch(self, api: Api) -> list[dict]:
        return api.list(self.list_command, name=self.name)

class Hypervisor(Resource):
    list_command = "listHypervisors"


class Tag(Resource):
    """Resource tags. `Tag.create` answers one object for the whole request, which `tag.delete()` undoes;
    `Tag.list` answers one object per listed tag (key, value, resourceid, resourcetype)."""
    list_command = "listTags"

    @classmethod
    def create(cls, apiclient: Any, resourceIds: str | list, resourceType: str, tags: dict) -> Tag:
        """Tag the resources `resourceIds` (of type `resourceType`, e.g. "UserVm") with `tags`
        {key: value}."""
        api = api_of(apiclient)
        ids = [resourceIds] if isinstance(resourceIds, str) else list(resourceIds)
        answer = api.call("createTags", resourceids=ids, resourcetype=resourceType, tags=tags)
        return cls.bind(api, {**answer, "resourceids": ids, "resourcetype": resourceType,
                              "tags": [{"key": k, "value": v} for k, v in tags.items()]})

    def request(self) -> tuple[list, str, dict]:
        """(resource ids, resource type, {key: value}) this object stands for."""
        if "resourceids" in self._fields:
            pairs = {tag["key"]: tag["value"] for tag in self["tags"]}
            return list(self["resourceids"]), self["resourcetype"], pairs
        return [self["resourceid"]], self["resourcetype"], {self["key"]: self["value"]}

    @hybridmethod
    def delete(cls, self, apiclient: Any = None, resourceIds: Any = None, resourceType: str | None = None,
               tags: dict | None = None) -> Any:
        """`Tag.delete(apiclient, resourceIds, resourceType, tags)` as upstream, or `tag.delete()`."""
        if self is not None:
            resourceIds, resourceType, tags = self.request()
        api = api_of(apiclient) if self is None else self.api(apiclient)
        return api.call("deleteTags", resourceids=resourceIds, resourcetype=resourceType, tags=tags)

    def fetch(self, api: Api) -> list[dict]:
        """This object again while every one of its tags is still there, else nothing."""
        ids, kind, pairs = self.request()
        listed = [tag for rid in ids
                  for tag in api.list(self.list_command, resourceid=rid, resourcetype=kind, listall=True)]
        found = [tag for tag in listed if pairs.get(tag["key"]) == tag["value"]]
        if len(found) < len(ids) * len(pairs):
            return []
        return [self._fields] if "resourceids" in self._fields else found[:1]
