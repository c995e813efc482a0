"""Command line: ``python run_eval.py {robustness,sweep,paper,detection,speed,report} ...``.

One module per sub-command; each turns arguments into a config object and calls the library."""
from __future__ import annotations

import argparse
import logging
from typing import List, Optional

from . import detection, paper, report, robustness, speed, sweep

logger = logging.getLogger("pit_eval")
COMMANDS = (robustness, sweep, paper, detection, speed, report)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_eval.py", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from ..extras import MissingInstall
    from ..images import DataError
    from ..models import WeightsError
    from ..registry import UnknownNameError
    from ..results import ResultsError
    try:
        return args.func(args)
    except (DataError, WeightsError, ResultsError, UnknownNameError, ValueError, MissingInstall) as e:
        logger.error("%s", e)
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted; finished cells are saved — re-run the same command to resume")
        return 130
