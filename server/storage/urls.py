"""Storage URLs: nfs://, iscsi://, rbd://, cifs://, ... split into what a pool or image store records.

Parsed by hand rather than with urllib: RBD secrets may hold '/' and '+', and `nfs://host:/path` (an
empty port) must read as NFS's default port, as CloudStack's own URI handling does.
"""

import re
from dataclasses import dataclass

from ..core.errors import InvalidParameter

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)\Z", re.S)


@dataclass(slots=True)
class StorageUrl:
    scheme: str  # as the caller wrote it (the enum-named schemes are case-sensitive upstream)
    host: str
    port: int | None
    path: str
    query: str
    user_info: str | None

    @property
    def kind(self) -> str:
        return self.scheme.lower()


def split_url(url: str) -> StorageUrl:
    match = _SCHEME_RE.match(url.strip())
    if not match:
        raise InvalidParameter(f"Invalid url {url}: uri.scheme is null, add nfs:// (or cifs://) as a prefix")
    scheme, rest = match.groups()
    rest, _, query = rest.partition("?")
    user_info = None
    if scheme.lower() == "rbd" and "@" in rest:
        # The secret in rbd://user:secret@mon/pool may contain '/': the host follows the last '@'.
        user_info, rest = rest.rsplit("@", 1)
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        user_info, authority = authority.rsplit("@", 1)
    host, port = _split_authority(url, authority)
    return StorageUrl(scheme, host, port, slash + path, query, user_info)


def _split_authority(url: str, authority: str) -> tuple[str, int | None]:
    if authority.startswith("["):  # an IPv6 literal: [fd00::1]:2049
        host, _, after = authority[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else ""
    else:
        host, _, port_text = authority.partition(":")
    if not port_text:
        return host, None
    if not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidParameter(f"Invalid url {url}: {port_text} is not a valid port")
    return host, int(port_text)


@dataclass(slots=True)
class PoolLocation:
    """What createStoragePool records from its URL (storage_pool.pool_type, host_address, port, path)."""

    pool_type: str
    host: str
    port: int
    path: str


# Pool types a URL scheme may name directly, spelled as upstream's StoragePoolType enum.
_ENUM_TYPES = ("Filesystem", "LVM", "EXT", "Iscsi", "FiberChannel", "PowerFlex", "ManagedNFS", "Linstor",
               "StorPool", "DatastoreCluster")
# scheme → (pool type, default port); the few schemes with special rules are handled below.
_SIMPLE = {
    "nfs": ("NetworkFilesystem", 2049), "cifs": ("SMB", 445), "sharedmountpoint": ("SharedMountPoint", 0),
    "presetup": ("PreSetup", 0), "datastorecluster": ("DatastoreCluster", 0), "iso": ("ISO", 2049),
    "gluster": ("Gluster", 24007),
}
# Types whose URL needs a host and a path (the message names the form expected).
_NEEDS_HOST_AND_PATH = {"nfs": "nfs://hostname/path", "sharedmountpoint": "sharedmountpoint://localhost/path",
                        "rbd": "rbd://hostname/pool", "gluster": "gluster://hostname/volume"}


def primary_location(url: str, cluster_given: bool) -> PoolLocation:
    """The pool type and location of a primary storage URL, or a 431 naming the url."""
    parts = split_url(url)
    kind = parts.kind
    if kind in _NEEDS_HOST_AND_PATH and (not parts.host.strip() or parts.path.strip("/ ") == ""):
        raise InvalidParameter(f"Invalid url {url}: host or path is null, should be "
                               f"{_NEEDS_HOST_AND_PATH[kind]}")
    if kind in _SIMPLE:
        pool_type, default_port = _SIMPLE[kind]
        return PoolLocation(pool_type, parts.host, _port(parts, default_port), parts.path)
    if kind == "iscsi":
        return _iscsi(url, parts, cluster_given)
    if kind in ("rbd", "clvm"):
        # Upstream records the RBD pool / CLVM volume group without the leading slash.
        return PoolLocation("RBD" if kind == "rbd" else "CLVM", parts.host, parts.port or 0,
                            parts.path.replace("/", "", 1))
    if kind == "file":
        return PoolLocation("Filesystem", "localhost", 0, parts.path)
    if kind == "vmfs":
        return PoolLocation("VMFS", f"VMFS datastore: {parts.path}", 0, parts.path)
    if kind == "ocfs2":
        return PoolLocation("OCFS2", "clustered", 7777, parts.path)
    if parts.scheme in _ENUM_TYPES:
        return PoolLocation(parts.scheme, parts.host, 0, parts.path)
    raise InvalidParameter(f"Invalid url {url}: unable to figure out the scheme for URI")


def _port(parts: StorageUrl, default: int) -> int:
    # Ports only mean something for network protocols; SharedMountPoint and PreSetup record 0.
    if default == 0:
        return 0
    return parts.port if parts.port is not None else default


def _iscsi(url: str, parts: StorageUrl, cluster_given: bool) -> PoolLocation:
    last = parts.path.rstrip().split("/")[-1]
    if not last.isdigit():
        raise InvalidParameter(f"Invalid url {url}: iSCSI needs to have LUN number")
    if not cluster_given:
        raise InvalidParameter("IscsiLUN need to have clusters specified")
    port = parts.port if parts.port is not None else 3260
    return PoolLocation("IscsiLUN", parts.host, port, parts.path)


def simulated_size(path: str) -> int | None:
    """The simulator's size override: a last path segment `size=<bytes>` (upstream MockStorageManager)."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    key, _, value = last.partition("=")
    if key.lower() == "size" and value.isdigit():
        return int(value)
    return None


def image_store_protocol(url: str, provider: str) -> str:
    """Validate an NFS/SMB image store URL and answer its protocol (nfs | cifs), or a 431 naming url."""
    parts = split_url(url)
    kind = parts.kind
    if kind == "nfs":
        if not parts.host.strip() or not parts.path.strip("/ "):
            raise InvalidParameter(f"Invalid url {url}: Your host and/or path is wrong.  Make sure it's of "
                                   "the format nfs://hostname/path")
        return kind
    if kind == "cifs":
        query = dict(item.partition("=")[::2] for item in parts.query.split("&") if item)
        if not query.get("user") or not query.get("password"):
            raise InvalidParameter(f"Invalid url {url}: cifs URI missing user and password details. Add "
                                   "them as query parameters, e.g. "
                                   "cifs://example.com/some_share?user=foo&password=bar")
        return kind
    raise InvalidParameter(f"Invalid url {url}: the {provider} image store provider takes nfs:// or cifs:// "
                           "URLs")


def object_store_protocol(url: str | None) -> str | None:
    """S3 and Swift endpoints: http(s) URLs, when given (S3 may be described by its details alone)."""
    if not url:
        return None
    parts = split_url(url)
    if parts.kind not in ("http", "https") or not parts.host:
        raise InvalidParameter(f"Invalid url {url}: an object store endpoint must be an http:// or https:// "
                               "URL")
    return parts.kind
