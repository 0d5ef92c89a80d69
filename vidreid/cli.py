"""The `vidreid` command: one entry point, one module per subcommand in vidreid/commands/.

Each command module defines HELP, add_arguments(parser) and run(args) -> exit code; heavy imports happen
inside run() so `vidreid --help` stays instant. User errors (VidReIDError) print as one line, exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys

from . import __version__, commands
from .errors import VidReIDError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidreid", description="Video-based person re-identification toolkit.")
    parser.add_argument("--version", action="version", version=f"vidreid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        name = getattr(mod, "NAME", info.name)
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _parser=p)
    return parser


def user_message(e: VidReIDError) -> str:
    """One line for a user error. An error re-raised by a DataLoader worker carries the worker's whole traceback
    ("Caught DatasetError in DataLoader worker process 0.\nOriginal Traceback ..."): keep the original message."""
    msg = str(e)
    if "\nOriginal Traceback" in msg:
        found = re.findall(rf"^(?:[\w.]+\.)?{re.escape(type(e).__name__)}: (.+)$", msg, flags=re.M)
        msg = found[-1] if found else msg
    return (msg.strip().splitlines() or [type(e).__name__])[0]


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, except that `key=value` overrides are accepted anywhere after the subcommand (argparse alone
    takes them only before the first option: `train --config c.yaml --no-progress train.epochs=1` would fail)."""
    args, extras = parser.parse_known_args(argv)
    if not extras:
        return args
    sub = getattr(args, "_parser", parser)
    overrides = [a for a in extras if "=" in a and not a.startswith("-")]
    unknown = [a for a in extras if a not in overrides]
    if unknown:
        sub.error(f"unrecognized arguments: {' '.join(unknown)}")
    if not hasattr(args, "overrides"):
        sub.error(f"unrecognized arguments: {' '.join(overrides)} (vidreid {args.command} takes no key=value "
                  f"config overrides)")
    args.overrides = list(args.overrides or []) + overrides
    return args


def report_error(line: str) -> None:
    """Print a user error's line. Under torchrun every rank meets the same error (a missing dataset ...): rank 0
    alone prints it, not once per process. Under `vidreid train --nproc` each rank writes it to its file in the
    launcher's folder instead, and the launcher prints one (vidreid/engine/launch.py)."""
    import os
    from .engine.launch import ERROR_DIR_ENV
    rank = os.environ.get("RANK", "")
    if os.environ.get(ERROR_DIR_ENV) and rank:
        with open(os.path.join(os.environ[ERROR_DIR_ENV], f"rank{int(rank)}.txt"), "w", encoding="utf-8") as f:
            f.write(line + "\n")
    elif rank in ("", "0"):
        print(line, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except VidReIDError as e:
        report_error(f"vidreid {args.command}: error: {user_message(e)}")
        return getattr(e, "exit_code", 2)
    except OSError as e:  # permission, not a folder, no space ... anywhere: one line naming the path, never a traceback
        if isinstance(e, BrokenPipeError):  # `vidreid ... | head`: the reader left; not an error of ours
            sys.stderr.close()
            return 0
        from .utils.io import os_error_message
        report_error(f"vidreid {args.command}: error: {os_error_message(e)}")
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
