"""``jupyter workbench``: start the demo, list instances, diagnose one."""

from __future__ import annotations

import argparse
import os
import sys

from .gateway.errors import WorkbenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jupyter workbench",
        description="Terminals for remote instances, inside JupyterLab.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="start JupyterLab with the workbench and a built-in demo instance",
        description="Start JupyterLab with a demo instance on 127.0.0.1. Other "
        "arguments go to 'jupyter lab' (e.g. --port 8899 --no-browser).",
    )
    demo.add_argument("lab_args", nargs=argparse.REMAINDER)
    hosts = commands.add_parser("hosts", help="list the instances of an inventory")
    hosts.add_argument("--inventory", help="an inventory file (TOML or JSON)")
    diagnose = commands.add_parser(
        "diagnose", help="check that an instance can be reached"
    )
    diagnose.add_argument("name")
    diagnose.add_argument("--inventory", help="an inventory file (TOML or JSON)")

    args, extra = parser.parse_known_args(argv)
    if args.command == "demo":
        return _demo([*extra, *args.lab_args])
    if args.command in ("hosts", "diagnose"):
        return _local(args)
    parser.print_help()
    return 0


def _demo(lab_args: list[str]) -> int:
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--WorkbenchApp.demo=True",
        *lab_args,
    ]
    os.execv(sys.executable, command)
    return 1  # not reached: execv replaces this process


def _local(args: argparse.Namespace) -> int:
    from .kernel.client import Workbench

    try:
        with Workbench(inventory=args.inventory, local=True) as wb:
            if args.command == "hosts":
                for instance in wb.instances():
                    print(
                        f"{instance.name:<24} {instance.host}:{instance.port}  ({instance.source})"
                    )
            else:
                diagnosis = wb.diagnose(args.name)
                print(diagnosis)
                reachable = all(step.ok for step in diagnosis.steps[:4])
                return 0 if reachable else 1
    except WorkbenchError as exc:
        print(f"jupyter workbench: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
