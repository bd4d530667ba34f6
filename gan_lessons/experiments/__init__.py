"""Each chapter's headline experiment, runnable outside the notebook (``python -m gan_lessons run NAME``).

A module here defines ``NAME``, ``run(profile, seed, **options) -> dict`` (JSON-serialisable) and,
optionally, ``add_arguments(parser)``; :mod:`gan_lessons.cli` finds it by itself.
"""
