"""Simulator fault injection: configureSimulator, querySimulatorMock, cleanupSimulatorMock."""

from sqlalchemy import select

from ..core.db import now
from ..core.errors import InvalidParameter
from ..core.params import INTEGER, LONG, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..core.responses import describe
from ..infra.models import Cluster, DataCenter, Host, HostPod
from .models import SimulatorMock
from .simulator import parse_values

KNOWN_KEYS = {"enabled", "timeout", "wait", "result"}


def mock_view(ctx, mock: SimulatorMock) -> dict:
    def uuid_of(model, row_id):
        return ctx.db.get(model, row_id).uuid if row_id else None

    return {"id": mock.id, "zoneid": uuid_of(DataCenter, mock.zone_id), "podid": uuid_of(HostPod, mock.pod_id),
            "clusterid": uuid_of(Cluster, mock.cluster_id), "hostid": uuid_of(Host, mock.host_id),
            "name": mock.name, "count": mock.count}


@command("configureSimulator", response="simulatormock", roles=ROOT_ONLY, params=[
    Param("name", STRING, required=True, description="which command needs to be configured"),
    Param("value", STRING, required=True, description="configuration options for this command, which is "
                                                      "separated by ;"),
    Param("zoneid", UUID, entity=DataCenter, description="configure range: in a zone"),
    Param("podid", UUID, entity=HostPod, description="configure range: in a pod"),
    Param("clusterid", UUID, entity=Cluster, description="configure range: in a cluster"),
    Param("hostid", UUID, entity=Host, description="configure range: in a host"),
    Param("count", INTEGER, description="number of times the mock is active"),
    Param("jsonresponse", STRING, length=4096, description="agent command response to be returned"),
])
def configure_simulator(ctx, p):
    """configure simulator"""
    settings = parse_values(p.value)
    unknown = set(settings) - KNOWN_KEYS
    if unknown or not settings and not p.jsonresponse:
        raise InvalidParameter(f"Invalid value {p.value} for parameter value: use ;-separated key:value pairs "
                               "of enabled, timeout, wait, result")
    if "wait" in settings and not settings["wait"].isdigit():
        raise InvalidParameter(f"Invalid wait {settings['wait']}: milliseconds expected")
    if p.count is not None and p.count < 1:
        raise InvalidParameter("count must be a positive number")
    scope = scope_ids(p)
    mock = ctx.db.scalars(select(SimulatorMock).where(
        SimulatorMock.name == p.name, SimulatorMock.removed.is_(None),
        *(getattr(SimulatorMock, column) == value if value is not None else getattr(SimulatorMock, column).is_(None)
          for column, value in scope.items()))).first()
    if mock is None:
        mock = SimulatorMock(name=p.name, **scope)
        ctx.db.add(mock)
    mock.values, mock.count, mock.json_response = p.value, p.count, p.jsonresponse
    ctx.db.flush()
    ctx.touch("simulator")
    ctx.event("SIMULATOR.MOCK.CONFIGURE", f"Mock for {p.name} set to {p.value}", resource_type="SimulatorMock",
              resource_id=str(mock.id))
    return mock_view(ctx, mock)


def scope_ids(p) -> dict:
    """The scope of a mock: the host implies its cluster, pod and zone (and so on upward)."""
    host, cluster, pod, zone = p.hostid, p.clusterid, p.podid, p.zoneid
    if host is not None:
        cluster_id, pod_id, zone_id = host.cluster_id, host.pod_id, host.zone_id
    else:
        cluster_id = cluster.id if cluster else None
        pod_id = cluster.pod_id if cluster else (pod.id if pod else None)
        zone_id = cluster.zone_id if cluster else (pod.zone_id if pod else (zone.id if zone else None))
    return {"host_id": host.id if host else None, "cluster_id": cluster_id, "pod_id": pod_id, "zone_id": zone_id}


def live_mock(ctx, mock_id: int) -> SimulatorMock:
    mock = ctx.db.get(SimulatorMock, mock_id)
    if mock is None or mock.removed is not None:
        raise InvalidParameter(f"Unable to find simulator mock by id={mock_id}")
    return mock


@command("querySimulatorMock", response="simulatormock", roles=ROOT_ONLY, params=[
    Param("id", LONG, required=True, description="id of the configured mock"),
])
def query_simulator_mock(ctx, p):
    """query simulator mock"""
    return mock_view(ctx, live_mock(ctx, p.id))


@command("cleanupSimulatorMock", roles=ROOT_ONLY, params=[
    Param("id", LONG, required=True, description="id of the configured mock"),
])
def cleanup_simulator_mock(ctx, p):
    """cleanup simulator mock"""
    live_mock(ctx, p.id).removed = now()
    ctx.touch("simulator")
    return {"success": True}


describe("simulatormock", {
    "id": "the mock ID", "zoneid": "the Zone ID scope of the mock", "podid": "the Pod ID scope of the mock",
    "clusterid": "the Cluster ID scope of the mock", "hostid": "the Host ID scope of the mock",
    "name": "the agent command to be mocked", "count": "number of times mock is executed, if not specified "
    "then mock remains active till cleaned up",
})
