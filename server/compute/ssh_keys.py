"""SSH key pairs: create (the server generates the key), register (the user brings the public key),
list and delete. Names are unique per account; only the public key is stored, never the private one."""

import asyncio
import base64
import binascii
import hashlib
import struct

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import or_, select

from ..core.errors import InvalidParameter
from ..core.listing import owner_filter, paged
from ..core.params import STRING, UUID, Param
from ..core.registry import command
from ..core.responses import describe
from ..iam.models import Domain
from ..iam.owners import finalize_owner, owner_fields, with_owner
from ..platform.tags import drop_tags
from .models import SSHKeyPair

# Key types upstream accepts (SSHKeysHelper): the type prefixes of an OpenSSH public key line.
KEY_TYPES = ("ssh-rsa", "ssh-dss", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521")
RSA_BITS = 2048

OWNER_PARAMS = [
    Param("account", STRING, description="an optional account for the ssh key. Must be used with domainId."),
    Param("domainid", UUID, entity=Domain, description="an optional domainId for the ssh key. If the account "
                                                       "parameter is used, domainId must also be used."),
    Param("projectid", UUID, description="an optional project for the ssh key"),
]


# ---- key material ---------------------------------------------------------------------------

def fingerprint(blob: bytes) -> str:
    """MD5 of the key blob as colon-separated hex: what upstream (and `ssh-keygen -E md5 -l`) shows."""
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def parse_public_key(text: str) -> tuple[str, bytes]:
    """`type base64 [comment]` (or that whole line base64-encoded) → ("type base64", blob)."""
    text = text.strip()
    if " " not in text:
        # Upstream also accepts the key line itself base64-encoded (what some UIs send).
        try:
            text = base64.b64decode(text, validate=True).decode().strip()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidParameter("Public key is invalid") from None
    parts = text.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise InvalidParameter("Public key is invalid")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise InvalidParameter("Public key is invalid") from None
    if blob_type(blob) != parts[0] or not loadable(parts[0], parts[1]):
        raise InvalidParameter("Public key is invalid")
    return f"{parts[0]} {parts[1]}", blob


def blob_type(blob: bytes) -> str | None:
    """The key type named inside the blob (a length-prefixed string), which must match the prefix."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length > 64 or len(blob) < 4 + length:
        return None
    try:
        return blob[4:4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


def loadable(key_type: str, data: str) -> bool:
    """The blob is a well-formed key of its type (cryptography no longer parses DSA keys: skip those)."""
    if key_type == "ssh-dss":
        return True
    try:
        serialization.load_ssh_public_key(f"{key_type} {data}".encode())
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def generate_rsa() -> tuple[str, bytes, str]:
    """A new RSA key: (OpenSSH public line, blob, PEM private key in the traditional RSA form)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return public, base64.b64decode(public.split()[1]), private


# ---- rows -----------------------------------------------------------------------------------

def find(ctx, account_id: int, name: str) -> SSHKeyPair | None:
    return ctx.db.scalars(select(SSHKeyPair).where(SSHKeyPair.account_id == account_id,
                                                   SSHKeyPair.name == name,
                                                   SSHKeyPair.removed.is_(None))).first()


def check_name(name: str) -> None:
    if not name or not name.strip():
        raise InvalidParameter("Please specify a valid name for the key pair. The key name can't be empty")


def save(ctx, owner, name: str, public_key: str, blob: bytes, event: str) -> SSHKeyPair:
    pair = SSHKeyPair(account_id=owner.id, domain_id=owner.domain_id, name=name,
                      fingerprint=fingerprint(blob), public_key=public_key)
    ctx.db.add(pair)
    ctx.db.flush()
    ctx.event(event, f"SSH key pair {name} {'registered' if event.startswith('REGISTER') else 'created'}",
              resource_type="SSHKeyPair", resource_id=pair.uuid, account_id=owner.id,
              domain_id=owner.domain_id)
    return pair


def view(ctx, pair: SSHKeyPair, private_key: str | None = None) -> dict:
    from ..iam.models import Account

    owner = ctx.db.get(Account, pair.account_id)
    domain = ctx.db.get(Domain, pair.domain_id)
    return row_view(pair, owner.account_name, domain.uuid, domain.name) | (
        {"privatekey": private_key} if private_key else {})


def row_view(pair: SSHKeyPair, account_name: str, domain_uuid: str, domain_name: str) -> dict:
    return {"id": pair.uuid, "name": pair.name, "fingerprint": pair.fingerprint,
            **owner_fields(account_name, domain_uuid, domain_name), "hasannotations": False}


# ---- commands -------------------------------------------------------------------------------

@command("createSSHKeyPair", response="keypair", params=[
    Param("name", STRING, required=True, description="Name of the keypair"),
    *OWNER_PARAMS,
])
async def create_ssh_key_pair(ctx, p):
    """Create a new keypair and returns the private key"""
    check_name(p.name)
    owner = finalize_owner(ctx, p.account, p.domainid)
    if find(ctx, owner.id, p.name):
        raise InvalidParameter(f"A key pair with name '{p.name}' already exists.")
    # RSA generation takes tens of milliseconds: keep it off the event loop.
    public, blob, private = await asyncio.to_thread(generate_rsa)
    if find(ctx, owner.id, p.name):  # registered by another request meanwhile
        raise InvalidParameter(f"A key pair with name '{p.name}' already exists.")
    pair = save(ctx, owner, p.name, public, blob, "CREATE.SSH.KEYPAIR")
    return view(ctx, pair, private)


@command("registerSSHKeyPair", response="keypair", params=[
    Param("name", STRING, required=True, description="Name of the keypair"),
    Param("publickey", STRING, required=True, length=5120, description="Public key material of the keypair"),
    *OWNER_PARAMS,
])
def register_ssh_key_pair(ctx, p):
    """Register a public key in a keypair under a certain name"""
    check_name(p.name)
    owner = finalize_owner(ctx, p.account, p.domainid)
    if find(ctx, owner.id, p.name):
        raise InvalidParameter(f"A key pair with name '{p.name}' already exists for this account.")
    public_key, blob = parse_public_key(p.publickey)
    same = ctx.db.scalar(select(SSHKeyPair.id).where(SSHKeyPair.account_id == owner.id,
                                                     SSHKeyPair.fingerprint == fingerprint(blob),
                                                     SSHKeyPair.removed.is_(None)))
    if same:
        raise InvalidParameter(f"A key pair with key '{public_key}' already exists for this account.")
    return view(ctx, save(ctx, owner, p.name, public_key, blob, "REGISTER.SSH.KEYPAIR"))


@command("deleteSSHKeyPair", params=[
    Param("name", STRING, required=True, description="Name of the keypair"),
    *OWNER_PARAMS,
])
def delete_ssh_key_pair(ctx, p):
    """Deletes a keypair by name"""
    owner = finalize_owner(ctx, p.account, p.domainid)
    pair = find(ctx, owner.id, p.name)
    if pair is None:
        domain = ctx.db.get(Domain, owner.domain_id)
        raise InvalidParameter(f"A key pair with name '{p.name}' does not exist for account "
                               f"{owner.account_name} in specified domain id",
                               uuids=[{"uuid": domain.uuid, "description": "domainId"}])
    # Key pairs are not referenced by id elsewhere: the row goes, so the name can be reused at once.
    ctx.db.delete(pair)
    drop_tags(ctx, "SSHKeyPair", pair.id)
    ctx.event("DELETE.SSH.KEYPAIR", f"SSH key pair {p.name} deleted", resource_type="SSHKeyPair",
              resource_id=pair.uuid, account_id=owner.id, domain_id=owner.domain_id)
    return {"success": True}


@command("listSSHKeyPairs", response="sshkeypair", listing="owned", params=[
    Param("id", UUID, entity=SSHKeyPair, description="the ID of the ssh keypair"),
    Param("name", STRING, description="A key pair name to look for"),
    Param("fingerprint", STRING, description="A public key fingerprint to look for"),
    Param("projectid", UUID, description="list objects by project"),
])
def list_ssh_key_pairs(ctx, p):
    """List registered keypairs"""
    query = owner_filter(ctx, p, with_owner(SSHKeyPair).where(SSHKeyPair.removed.is_(None)), SSHKeyPair)
    if p.id is not None:
        query = query.where(SSHKeyPair.id == p.id.id)
    if p.name:
        query = query.where(SSHKeyPair.name == p.name)
    if p.fingerprint:
        query = query.where(SSHKeyPair.fingerprint == p.fingerprint)
    if p.keyword:
        pattern = f"%{p.keyword}%"
        query = query.where(or_(SSHKeyPair.name.like(pattern), SSHKeyPair.fingerprint.like(pattern)))
    return paged(ctx, p, query, row_view, order_by=SSHKeyPair.id)


KEY_PAIR_FIELDS = {
    "id": "ID of the ssh keypair", "name": "Name of the keypair",
    "fingerprint": "Fingerprint of the public key", "account": "the owner of the keypair",
    "domainid": "the domain id of the keypair owner", "domain": "the domain name of the keypair owner",
    "hasannotations": "whether this resource has annotations",
}
describe("sshkeypair", KEY_PAIR_FIELDS)
describe("keypair", KEY_PAIR_FIELDS | {"privatekey": "Private key (only answered by createSSHKeyPair)"})
