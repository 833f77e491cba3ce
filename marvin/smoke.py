"""`python -m marvin.smoke --url URL`: a quick end-to-end check of a running management server.

Keys come from --apikey/--secretkey or from the sandbox's /admin.json. Every check prints one line
with its time; the exit status is non-zero when one fails. What it creates, it deletes.
"""

import argparse
import sys
import time
import uuid
from urllib.parse import urlsplit

import requests

from .client import Client


def admin_keys(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    keys = requests.get(f"{parts.scheme}://{parts.netloc}/admin.json", timeout=10).json()
    return keys["apikey"], keys["secretkey"]


def checks(admin: Client):
    suffix = uuid.uuid4().hex[:6]
    state: dict = {}

    def capabilities():
        version = admin("listCapabilities")["cloudstackversion"]
        return f"CloudStack API {version}"

    def apis():
        return f"{len(admin.list('listApis'))} commands offered"

    def account():
        domain = admin("createDomain", name=f"smoke-{suffix}")
        acct = admin("createAccount", username=f"smoke-{suffix}", password="smoke-pw", firstname="Smoke",
                     lastname="Test", domainid=domain["id"])
        state.update(domain=domain, account=acct)
        return f"account {acct['name']} in domain {domain['path']}"

    def user_keys():
        user = state["account"]["user"][0]
        keys = admin("registerUserKeys", id=user["id"])
        as_user = Client(admin.url, keys["apikey"], keys["secretkey"], signature_version=3)
        seen = as_user.list("listAccounts", listall=True)
        assert [a["id"] for a in seen] == [state["account"]["id"]], seen
        return "the new user signs v3 requests and sees only its own account"

    def session():
        as_user = Client(admin.url, username=f"smoke-{suffix}", password="smoke-pw",
                         domain=state["domain"]["path"].removeprefix("ROOT"))
        as_user.logout()
        return "login and logout"

    def cleanup():
        admin("deleteDomain", id=state["domain"]["id"], cleanup=True)
        return "domain and account deleted"

    return [capabilities, apis, account, user_keys, session, cleanup]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080/client/api")
    parser.add_argument("--apikey")
    parser.add_argument("--secretkey")
    args = parser.parse_args(argv)
    apikey, secretkey = (args.apikey, args.secretkey) if args.apikey else admin_keys(args.url)
    admin = Client(args.url, apikey, secretkey)
    failed = 0
    for check in checks(admin):
        started = time.monotonic()
        try:
            outcome, status = check(), "ok"
        except Exception as error:  # report and go on: the summary says what failed
            outcome, status, failed = str(error), "FAILED", failed + 1
        print(f"{status:6} {check.__name__:13} {time.monotonic() - started:6.3f}s  {outcome}")
    print(f"smoke: {len(checks(admin)) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
