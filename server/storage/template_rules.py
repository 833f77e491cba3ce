"""What registerTemplate/registerIso check before anything is stored: image format, hypervisor, URL,
checksum, owner and target zones. Every refusal is a 431 naming the offending value."""

import re
from urllib.parse import urlsplit

from sqlalchemy import select

from ..core.errors import ApiError, InvalidParameter, PermissionDenied, ServerApiError
from ..core.listing import check_owner
from ..iam.models import ADMIN_ACCOUNT, Account
from ..infra.models import DISABLED, DataCenter
from .models import ImageStore, VMTemplate

# Upstream Storage.ImageFormat, and the file names a URL of that format may end with.
FORMAT_EXTENSIONS = {
    "QCOW2": ("qcow2",), "RAW": ("img", "raw"), "VHD": ("vhd",), "VHDX": ("vhdx",), "ISO": ("iso",),
    "OVA": ("ova",), "BAREMETAL": (), "VMDK": ("vmdk",), "VDI": ("vdi",), "TAR": ("tar",), "ZIP": ("zip",),
    "DIR": (), "EXTERNAL": (),
}
COMPRESSIONS = ("", ".zip", ".bz2", ".gz", ".xz")
# Upstream Hypervisor.HypervisorType names (canonical spelling, Parralels sic).
HYPERVISORS = ("XenServer", "KVM", "VMware", "Hyperv", "VirtualBox", "Parralels", "BareMetal", "Simulator",
               "Ovm", "Ovm3", "LXC", "Custom", "External", "Any")
# The image formats each real hypervisor can boot; the others (Simulator, External, ...) take any.
HYPERVISOR_FORMATS = {
    "KVM": ("QCOW2", "RAW", "VHD", "VMDK"), "XenServer": ("VHD",), "VMware": ("OVA",),
    "Hyperv": ("VHD", "VHDX"), "LXC": ("TAR",), "Ovm": ("RAW",), "Ovm3": ("RAW",),
    "BareMetal": ("BAREMETAL",),
}
# Checksum algorithms as upstream's DigestHelper names them, with their hex digest length.
ALGORITHMS = {"MD5": ("md5", 32), "SHA-1": ("sha1", 40), "SHA-224": ("sha224", 56), "SHA-256": ("sha256", 64),
              "SHA-384": ("sha384", 96), "SHA-512": ("sha512", 128)}
_CHECKSUM_RE = re.compile(r"\{([A-Za-z0-9-]+)\}([0-9A-Fa-f]+)\Z")
_HEX_RE = re.compile(r"[0-9A-Fa-f]+\Z")
TEMPLATE_TYPES = ("USER", "BUILTIN", "SYSTEM", "ROUTING")


def image_format(value: str, iso: bool) -> str:
    fmt = (value or "").upper()
    if iso:
        return "ISO"
    if fmt not in FORMAT_EXTENSIONS:
        raise ServerApiError(f"Image format: {value} is incorrect. Supported formats are "
                             f"{', '.join(FORMAT_EXTENSIONS)}", errorcode=431)
    if fmt == "ISO":
        raise InvalidParameter("Image format ISO is for ISOs: register them with registerIso")
    return fmt


def hypervisor(value: str | None) -> str:
    for name in HYPERVISORS:
        if value and name.lower() == value.lower():
            return name
    raise InvalidParameter(f"Hypervisor Type: {value} is invalid. Supported Hypervisor types are: "
                           f"{', '.join(HYPERVISORS)}")


def check_format_for(hypervisor_name: str, fmt: str) -> None:
    allowed = HYPERVISOR_FORMATS.get(hypervisor_name)
    if allowed is not None and fmt not in allowed:
        raise InvalidParameter(f"Image format {fmt} is not supported by hypervisor {hypervisor_name}; "
                               f"supported formats: {', '.join(allowed)}")


def download_url(url: str, fmt: str) -> str:
    """An http(s) URL with a host whose file name fits the format (optionally compressed)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        raise InvalidParameter(f"Invalid URL {url}") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        raise InvalidParameter(f"File:// type urls are currently unsupported: {url}")
    if scheme not in ("http", "https"):
        raise InvalidParameter(f"Unsupported scheme for url: {url}")
    if not parts.hostname:
        raise InvalidParameter(f"Invalid URL {url}: it names no host")
    path = parts.path.lower()
    extensions = FORMAT_EXTENSIONS.get(fmt, ())
    names = [f".{ext}{packed}" for ext in extensions for packed in COMPRESSIONS]
    if names and not path.endswith(tuple(names)):
        raise InvalidParameter(f"Please specify a valid URL. URL:{url} is an invalid for the format "
                               f"{fmt.lower()}")
    return url


def checksum(value: str | None) -> str | None:
    """`{ALGORITHM}hex` or plain hex (its length names the algorithm, MD5 usually)."""
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    match = _CHECKSUM_RE.match(value)
    if match:
        algorithm, digest = match.group(1).upper(), match.group(2)
        if algorithm in ALGORITHMS and len(digest) == ALGORITHMS[algorithm][1]:
            return value
    elif _HEX_RE.match(value) and any(len(value) == length for _, length in ALGORITHMS.values()):
        return value
    raise InvalidParameter(f"Invalid checksum {value}: give {{ALGORITHM}}hexdigest with ALGORITHM one of "
                           f"{', '.join(ALGORITHMS)}, or a plain MD5 hex digest")


def algorithm_and_digest(value: str) -> tuple[str, str]:
    """The hashlib name and expected hex digest of a validated checksum."""
    match = _CHECKSUM_RE.match(value)
    if match:
        return ALGORITHMS[match.group(1).upper()][0], match.group(2).lower()
    by_length = {length: name for name, length in ALGORITHMS.values()}
    return by_length[len(value)], value.lower()


def plain_digest(value: str | None) -> str | None:
    """What responses show: the digest without its {ALGORITHM} prefix."""
    if not value:
        return None
    match = _CHECKSUM_RE.match(value)
    return match.group(2) if match else value


def owner(ctx, account_name: str | None, domain) -> Account:
    """The template's owner: the caller, or `account` in `domainid` (the caller's domain by default)."""
    caller = ctx.caller
    if not account_name:
        return ctx.db.get(Account, caller.account_id)
    domain_id = domain.id if domain is not None else caller.domain_id
    account = ctx.db.scalars(select(Account).where(Account.account_name == account_name,
                                                   Account.domain_id == domain_id,
                                                   Account.removed.is_(None))).first()
    if account is None:
        raise InvalidParameter(f"Unable to find account {account_name} in domain id={domain_id}")
    check_owner(ctx, account.id, account.domain_id)
    return account


def is_root_account(account: Account) -> bool:
    return account.type == ADMIN_ACCOUNT


def target_zones(ctx, zone_value, zone_rows, account: Account) -> list[DataCenter] | None:
    """The zones named by `zoneid` (a uuid, or -1 for all: None) or `zoneids`."""
    if zone_value and zone_rows:
        raise ServerApiError("Both zoneid and zoneids cannot be specified at the same time", errorcode=431)
    if not zone_value and not zone_rows:
        raise ServerApiError("Either zoneid or zoneids parameters have to be specified", errorcode=431)
    if zone_value == "-1":
        region_stores = ctx.db.scalar(select(ImageStore.id).where(ImageStore.scope == "REGION",
                                                                  ImageStore.removed.is_(None)).limit(1))
        if not is_root_account(account) and region_stores is None:
            raise InvalidParameter("Template registered for 'All zones' can only be owned a Root Admin "
                                   "account. Please select specific zone(s).")
        return None
    zones = zone_rows or [zone_by_uuid(ctx, zone_value)]
    for zone in zones:
        if zone.allocation_state == DISABLED and not ctx.caller.is_root_admin:
            raise PermissionDenied(f"Cannot perform this operation, Zone {zone.name} is currently disabled")
    return zones


def zone_by_uuid(ctx, value: str) -> DataCenter:
    zone = ctx.db.scalars(select(DataCenter).where(DataCenter.uuid == value,
                                                   DataCenter.removed.is_(None))).first()
    if zone is None:
        name = ctx.command.name.lower() if ctx.command else "registertemplate"
        raise ServerApiError(f"Unable to execute API command {name} due to invalid value. Invalid parameter "
                             f"zoneid value={value} due to incorrect long value format, or entity does not "
                             "exist or due to incorrect parameter annotation for the field in api cmd "
                             "class.", errorcode=431)
    return zone


def image_stores(ctx, zone_id: int | None) -> list[ImageStore]:
    return list(ctx.db.scalars(select(ImageStore).where(
        ImageStore.zone_id == zone_id, ImageStore.role == "Image", ImageStore.removed.is_(None),
        ImageStore.readonly.is_(False)).order_by(ImageStore.id)))


def no_store(name: str) -> ApiError:
    return ApiError(f"Unable to find image store to download the template [{name}].")


def check_reserved_name(ctx, name: str, display_text: str) -> None:
    """The system VM templates' names are reserved."""
    rows = ctx.db.execute(select(VMTemplate.name, VMTemplate.display_text).where(
        VMTemplate.type == "SYSTEM", VMTemplate.removed.is_(None))).all()
    for row in rows:
        if row.name.lower() == name.lower() or (row.display_text or "").lower() == display_text.lower():
            raise ServerApiError("Cannot use reserved names for templates", errorcode=431)


def template_type(ctx, value: str | None, routing: bool) -> str:
    if not value and not routing:
        return "USER"
    if not ctx.caller.is_root_admin:
        raise PermissionDenied("Only root admins can set the template type")
    wanted = (value or "ROUTING").upper()
    if wanted not in TEMPLATE_TYPES:
        raise InvalidParameter(f"Invalid template type {value}; valid types are {', '.join(TEMPLATE_TYPES)}")
    return wanted
