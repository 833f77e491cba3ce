"""The `marvin` command line: build a datacenter from a Marvin config, take it down, check a config, and
list what a management server offers.

    marvin deploy   -c configs/advanced.cfg             build it (idempotent: a rerun creates nothing)
    marvin teardown -c configs/advanced.cfg             remove it (state file, then the config's zones)
    marvin validate -c configs/scale.cfg.j2 -v zones=3  check a config without any API call
    marvin apis --url http://127.0.0.1:8096/client/api  the server's commands

Exit status: 0 on success, 1 when a step, the validation or the teardown fails, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import requests

from . import __version__
from .client import Client
from .configfile import ConfigError, Obj, load, parse_variables
from .deployer import DeployError, Progress, connect, default_state_path, deploy
from .errors import CloudstackError, JobTimeout
from .teardown import teardown

DEFAULT_URL = "http://127.0.0.1:8096/client/api"


def config_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("-c", "--config", required=required, metavar="CFG",
                        help="the datacenter config: Marvin JSON (# comment lines allowed) or a *.j2 "
                             "template")
    parser.add_argument("-v", "--var", action="append", default=[], metavar="KEY=VALUE",
                        help="a template variable for *.j2 configs (repeatable; JSON values such as 3 or "
                             "true are typed, anything else is text)")


def server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the API endpoint to use instead of the config's mgtSvr[0] "
                                      "(e.g. http://127.0.0.1:8096/client/api)")
    parser.add_argument("--state", type=Path, metavar="FILE",
                        help="the state file (default: <logger.LogFolderPath or .>/dc_entries.json)")
    parser.add_argument("--zone", action="append", metavar="NAME",
                        help="only this zone of the config (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="print only failures and the summary")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marvin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"marvin {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("deploy", help="build the zones of a config (idempotent)", description=(
        "Build the zones of a config in upstream Marvin's call order. Prints one line per step with its "
        "duration (a progress bar on a terminal). What exists already is found, not created again."))
    config_arguments(run)
    server_arguments(run)
    run.add_argument("--host-timeout", type=float, default=120, metavar="SECONDS",
                     help="how long a cluster's hosts may take to be Up (default 120)")
    run.set_defaults(handler=cmd_deploy)

    down = commands.add_parser("teardown", help="remove what a deploy built", description=(
        "Remove the zones of a config and everything in them: first what the state file records (in "
        "reverse order), then whatever list commands still find in the zones the config names. Works "
        "without a state file."))
    config_arguments(down)
    server_arguments(down)
    down.add_argument("--timeout", type=float, default=60, metavar="SECONDS",
                      help="how long a maintenance or system VM destruction may take (default 60)")
    down.set_defaults(handler=cmd_teardown)

    check = commands.add_parser("validate", help="check a config (no API call)", description=(
        "Read and validate a config; print every problem with the path of its field, e.g. "
        "zones[0].pods[1].clusters[0].hosts[2].url."))
    config_arguments(check)
    check.set_defaults(handler=cmd_validate)

    apis = commands.add_parser("apis", help="list the commands a server offers",
                               description="List the commands the server offers (listApis), async ones "
                                           "marked.")
    apis.add_argument("--url", help=f"the API endpoint (default: the config's mgtSvr[0], else {DEFAULT_URL})")
    config_arguments(apis, required=False)
    apis.add_argument("--json", action="store_true", help="print JSON: {count, api: [{name, isasync}]}")
    apis.set_defaults(handler=cmd_apis)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    except requests.RequestException as error:
        print(f"marvin {args.command}: can't reach the management server: {error}", file=sys.stderr)
        return 1
    except (CloudstackError, JobTimeout) as error:  # outside any step, e.g. credentials refused
        print(f"marvin {args.command}: {error}", file=sys.stderr)
        return 1


def read_config(args) -> Obj:
    return load(args.config, parse_variables(args.var))


def cmd_validate(args) -> int:
    config = read_config(args)  # raises ConfigError (exit 1) listing every problem
    zones = config.zones or []
    hosts = sum(len(c.hosts or []) for z in zones for p in z.pods or [] for c in p.clusters or [])
    print(f"{args.config}: valid ({len(zones)} zone(s), {hosts} host(s))")
    return 0


def cmd_deploy(args) -> int:
    config = read_config(args)
    state = args.state or default_state_path(config)
    client = connect(config, args.url)
    progress = Progress(quiet=args.quiet)
    try:
        summary = deploy(config, client, state, progress, config_path=str(Path(args.config).resolve()),
                         zones=args.zone, host_timeout=args.host_timeout)
    except DeployError as error:
        progress.say(f"deploy failed at {error}")
        progress.say(f"state: {state}; remove what was made with: marvin teardown -c {args.config}"
                     + (f" --state {args.state}" if args.state else ""))
        return 1
    changed = summary["created"] + summary["enabled"]
    if changed == 0:
        progress.say(f"deploy: nothing to create, all {summary['found']} objects already exist "
                     f"({summary['seconds']:.2f} s; state: {state})")
    else:
        progress.say(f"deploy: created {summary['created']}, enabled {summary['enabled']}, found "
                     f"{summary['found']} in {summary['seconds']:.2f} s (state: {state})")
    return 0


def cmd_teardown(args) -> int:
    config = read_config(args)
    state = args.state or default_state_path(config)
    client = connect(config, args.url)
    progress = Progress(quiet=args.quiet)
    try:
        left, errors = teardown(config, client, state, progress, zones=args.zone, timeout=args.timeout)
    except DeployError as error:
        progress.say(f"teardown failed at {error}")
        return 1
    if left:
        for problem in left + errors:
            progress.say(f"  {problem}")
        progress.say(f"teardown: incomplete, {len(left)} zone(s) left")
        return 1
    names = ", ".join(z.name for z in config.zones or [] if not args.zone or z.name in args.zone)
    progress.say(f"teardown: nothing left of {names}")
    return 0


def cmd_apis(args) -> int:
    # `--generate DIR` (marvin.cloudstackAPI modules from listApis) will hang off this command.
    if args.config:
        client = connect(read_config(args), args.url)
    else:
        client = Client(args.url or DEFAULT_URL)
    try:
        apis = sorted(client.list("listApis"), key=lambda api: api["name"])
    except CloudstackError as error:
        print(f"marvin apis: {error}", file=sys.stderr)
        return 1
    if args.json:
        listed = [{"name": api["name"], "isasync": bool(api.get("isasync"))} for api in apis]
        print(json.dumps({"count": len(listed), "api": listed}, indent=1))
        return 0
    for api in apis:
        print(f"{api['name']}{'  (async)' if api.get('isasync') else ''}")
    print(f"{len(apis)} commands ({sum(1 for api in apis if api.get('isasync'))} async)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
