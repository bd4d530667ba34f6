"""Command line: ``python -m gan_lessons run NAME [--profile quick|full] [--seed S] [options]``.

Each chapter's headline experiment is a module in ``gan_lessons/experiments/`` that defines
``NAME`` (the name on the command line), ``run(profile, seed, **options) -> dict`` and, if it takes
options, ``add_arguments(parser)``. Progress goes to stderr; the LAST line of stdout is one JSON object.
"""
from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from types import ModuleType

__all__ = ["main", "experiments"]


def experiments() -> dict[str, ModuleType]:
    """Every registered experiment module, by its command-line name."""
    from . import experiments as pkg

    found = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            found[module.NAME] = module
    return dict(sorted(found.items()))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _print_help()
        return 0
    command, rest = argv[0], argv[1:]
    if command == "run":
        return _run(rest)
    if command == "list":
        return _list(rest)
    if command == "student-edition":
        return _student_edition(rest)
    if command in _VERBS:  # module, function: imported only when used
        module, function = _VERBS[command]
        return getattr(importlib.import_module(f"{__package__}.{module}"), function)(rest)
    print(f"gan_lessons: unknown command {command!r}. Commands: run, list, student-edition, "
          f"{', '.join(_VERBS)} (see python -m gan_lessons --help)", file=sys.stderr)
    return 2


_VERBS = {"ddp": ("distributed", "main"), "sync-notebooks": ("nbgrader_meta", "main"),
          "nbgrader-config": ("nbgrader_meta", "config_main"), "grade": ("grade", "main")}


def _list(rest: list[str]) -> int:
    if rest:
        return _usage_error("list", f"list takes no arguments, got {' '.join(rest)!r}")
    for name, module in experiments().items():
        print(f"{name:24s} {(module.__doc__ or '').strip().splitlines()[0]}")
    return 0


def _student_edition(rest: list[str]) -> int:
    try:
        from .student import main as student_main
    except ImportError as err:  # nbformat / pyyaml are dependencies; a broken install says which one
        return _usage_error("student-edition", f"{err}: install the package with its dependencies "
                            "(pip install -e .)")
    try:
        return student_main(rest)
    except OSError as err:
        return _usage_error("student-edition", f"cannot write the student edition ({err}): pass an OUT_DIR "
                            "that is a writable folder")


def _run(argv: list[str]) -> int:
    registry = experiments()
    if not argv or argv[0].startswith("-"):
        print(f"gan_lessons run: name an experiment: {', '.join(registry)}", file=sys.stderr)
        return 2
    name = argv[0]
    if name not in registry:
        print(f"gan_lessons run: unknown experiment {name!r}; choose one of: {', '.join(registry)}",
              file=sys.stderr)
        return 2
    module = registry[name]
    parser = _OneLineParser(prog=f"python -m gan_lessons run {name}",
                                     description=(module.__doc__ or "").strip())
    parser.add_argument("--profile", choices=["quick", "full", "auto"], default=None,
                        help="training budget (default: GAN_LESSONS_PROFILE, else auto)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed, an integer in [0, 2**64) (default 0)")
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    args = vars(parser.parse_args(argv[1:]))
    from .runtime import get_profile

    try:
        profile = get_profile(args.pop("profile"))
    except ValueError as err:  # GAN_LESSONS_PROFILE set to an unknown name
        return _usage_error(f"run {name}", str(err))
    seed = args.pop("seed")
    print(f"[gan_lessons] running {name!r} (profile={profile}, seed={seed})", file=sys.stderr)
    start = time.perf_counter()
    try:
        result = module.run(profile=profile, seed=seed, **args)
    except ValueError as err:  # an option or environment setting the experiment's validation refused
        return _usage_error(f"run {name}", str(err))
    print(f"[gan_lessons] {name!r} done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print(json.dumps(result, sort_keys=True))
    return 0


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2), never a usage dump or traceback."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be an integer, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer below 2**64 (torch seeds are "
                                         f"64-bit), got {text}")
    return value


def _usage_error(command: str, message: str) -> int:
    print(f"gan_lessons {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _print_help() -> None:
    print(__doc__.strip())
    print("\nCommands:\n  run NAME     run a chapter's headline experiment, print JSON\n"
          "  list         list the experiments\n"
          "  student-edition OUT_DIR   write the student notebooks (solutions removed)\n"
          "  ddp [options]   data-parallel DCGAN training; under torchrun --nproc_per_node=N\n"
          "  sync-notebooks [--check]  write the notebooks' nbgrader metadata and Colab cell\n"
          "  nbgrader-config           print the nbgrader_config.py of a course\n"
          "  grade SUBMISSIONS --out grades.csv   grade submitted notebooks with the installed checks")
