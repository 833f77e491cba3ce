"""Resource classes for tests, under upstream Marvin's names and call signatures: tests written for Apache
CloudStack do `from marvin.lib.base import Account, VirtualMachine, ...` and run unchanged.

Every class works both ways. Upstream's: `Account.create(apiclient, services, admin=False, domainid=None)`,
`Zone.list(apiclient, **kwargs)` → objects or None, `account.delete(apiclient)`. And the pytest style: an
object made by a call remembers its client, so `zone.refresh()`, `host.wait("Up")`, `pod.update(name=...)`
and `vm.delete()` need none. Objects carry the server's fields as attributes (`account.user[0].id`) and as
items (`account["id"]`).

The classes live by domain, as the server's do: resource.py (the base class and `api_of`, the adapter to
any client), identity.py, infrastructure.py, compute.py, storage.py, network.py and platform.py. This module
is their one public face.
"""

from .compute import (
    AffinityGroup,
    DiskOffering,
    InstanceGroup,
    ServiceOffering,
    SSHKeyPair,
    UserData,
    VirtualMachine,
)
from .identity import ACCOUNT, Account, Domain, Resources, Role, RolePermission, User
from .infrastructure import (
    Cluster,
    Host,
    NetworkServiceProvider,
    PhysicalNetwork,
    Pod,
    PublicIpRange,
    Region,
    SimulatorMock,
    SystemVm,
    TrafficType,
    Zone,
)
from .network import Network, NetworkOffering, Router, VpcOffering
from .platform import Configurations, Hypervisor, Tag
from .resource import (
    ADAPTERS,
    Api,
    ClientApi,
    Record,
    Resource,
    api_of,
    given,
    hybridmethod,
    register_adapter,
    services_or,
    wrap,
)
from .storage import (
    Image,
    ImageStore,
    Iso,
    SecondaryStagingStore,
    Snapshot,
    SnapshotPolicy,
    StoragePool,
    Template,
    VmSnapshot,
    Volume,
)

__all__ = [
    # the machinery
    "ADAPTERS", "Api", "ClientApi", "Record", "Resource", "api_of", "given", "hybridmethod",
    "register_adapter", "services_or", "wrap",
    # identity
    "ACCOUNT", "Account", "Domain", "Resources", "Role", "RolePermission", "User",
    # infrastructure
    "Cluster", "Host", "NetworkServiceProvider", "PhysicalNetwork", "Pod", "PublicIpRange", "Region",
    "SimulatorMock", "SystemVm", "TrafficType", "Zone",
    # compute
    "AffinityGroup", "DiskOffering", "InstanceGroup", "SSHKeyPair", "ServiceOffering", "UserData",
    "VirtualMachine",
    # storage
    "Image", "ImageStore", "Iso", "SecondaryStagingStore", "Snapshot", "SnapshotPolicy", "StoragePool",
    "Template", "VmSnapshot", "Volume",
    # network
    "Network", "NetworkOffering", "Router", "VpcOffering",
    # platform
    "Configurations", "Hypervisor", "Tag",
]
