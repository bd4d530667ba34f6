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
        for name, module in experiments().items():
            print(f"{name:24s} {(module.__doc__ or '').strip().splitlines()[0]}")
        return 0
    if command == "student-edition":
        from .student import main as student_main

        return student_main(rest)
    if command == "sync-notebooks":
        from .nbgrader_meta import main as sync_main

        return sync_main(rest)
    if command == "nbgrader-config":
        from .nbgrader_meta import config_main

        return config_main(rest)
    if command == "grade":
        from .grade import main as grade_main

        return grade_main(rest)
    print(f"gan_lessons: unknown command {command!r}. Commands: run, list, student-edition, sync-notebooks, "
          "nbgrader-config, grade "
          "(see python -m gan_lessons --help)", file=sys.stderr)
    return 2


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
    parser = argparse.ArgumentParser(prog=f"python -m gan_lessons run {name}",
                                     description=(module.__doc__ or "").strip())
    parser.add_argument("--profile", choices=["quick", "full", "auto"], default=None,
                        help="training budget (default: GAN_LESSONS_PROFILE, else auto)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    args = vars(parser.parse_args(argv[1:]))
    from .runtime import get_profile

    profile, seed = get_profile(args.pop("profile")), args.pop("seed")
    if seed < 0:
        parser.error("--seed must be a non-negative integer")
    print(f"[gan_lessons] running {name!r} (profile={profile}, seed={seed})", file=sys.stderr)
    start = time.perf_counter()
    result = module.run(profile=profile, seed=seed, **args)
    print(f"[gan_lessons] {name!r} done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print(json.dumps(result, sort_keys=True))
    return 0


def _print_help() -> None:
    print(__doc__.strip())
    print("\nCommands:\n  run NAME     run a chapter's headline experiment, print JSON\n"
          "  list         list the experiments\n"
          "  student-edition OUT_DIR   write the student notebooks (solutions removed)\n"
          "  sync-notebooks [--check]  write the notebooks' nbgrader metadata and Colab cell\n"
          "  nbgrader-config           print the nbgrader_config.py of a course\n"
          "  grade SUBMISSIONS --out grades.csv   grade submitted notebooks with the installed checks")
