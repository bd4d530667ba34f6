"""Property-based checks (Hypothesis) over every public function and class in ``__all__`` of every gan_lessons
module: random shapes, dtypes, NaN/inf, empty and huge sizes, wrong kinds of object.

The property: a call either returns a result with no NaN in it, or raises a ValueError/TypeError from
gan_lessons code (the traceback's last frame is in the package) with a message, or an exception class of
gan_lessons' own. Never a raw torch/numpy/scipy/pickle exception, never NaN returned, never a hang.

SPECS below is the explicit, reviewed list of argument strategies, one entry per public name; a test fails when
a public name has no entry, so coverage cannot silently shrink. Calls that would train or download when given
valid arguments draw only arguments of which at least one is invalid (``bad`` strategies), so the suite stays
fast. Skipped (SKIP, each with its reason): drawing functions and widgets, exception classes, and the few
entry points whose only valid call trains a full model or reads all of MNIST.

CI profile: ``GAN_LESSONS_HYPOTHESIS=ci`` (the default), bounded examples per function, derandomized (the same
examples every run), ``deadline=None``. ``GAN_LESSONS_HYPOTHESIS=thorough`` runs many more.
"""
from __future__ import annotations

import importlib
import inspect
import math
import os
import pkgutil
import signal
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from torch import nn

import gan_lessons

settings.register_profile("ci", max_examples=8, deadline=None, derandomize=True, database=None,
                          suppress_health_check=list(HealthCheck),
                          phases=[Phase.explicit, Phase.generate])  # no shrinking: a failure shows as drawn
settings.register_profile("thorough", max_examples=300, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("GAN_LESSONS_HYPOTHESIS", "ci"))

PACKAGE = Path(gan_lessons.__file__).resolve().parent
WORK = Path(os.environ.get("TMPDIR", "/tmp")) / f"gan_lessons_properties_{os.getpid()}"
WORK.mkdir(parents=True, exist_ok=True)
(WORK / "a-file").write_text("a file, not a folder")
(WORK / "junk.pt").write_bytes(b"not a checkpoint")
(WORK / "junk.gz").write_bytes(b"\x1f\x8b\x08 not gzip")
os.environ["GAN_LESSONS_CACHE"] = str(WORK / "cache")  # nothing of the suite lands in the user's cache
os.environ["GAN_LESSONS_PROGRESS"] = "0"
os.environ["GAN_LESSONS_OFFLINE"] = "1"  # no network, ever


# -- the public API, enumerated ----------------------------------------------------------------------------
def _modules():
    names = ["gan_lessons"]
    for info in pkgutil.walk_packages(gan_lessons.__path__, "gan_lessons."):
        if info.name.endswith("__main__") or info.name.startswith("gan_lessons.experiments"):
            continue  # __main__ runs the CLI on import; chapter modules: see test_chapter_modules_are_listed
        names.append(info.name)
    return [importlib.import_module(n) for n in names]


def public_api() -> dict[str, object]:
    """"module:name" -> object, for every callable in a module's __all__ that the module itself defines."""
    out = {}
    for module in _modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if callable(obj) and getattr(obj, "__module__", None) == module.__name__:
                out[f"{module.__name__}:{name}"] = obj
    return out


# -- building blocks ---------------------------------------------------------------------------------------
JUNK = st.sampled_from([None, "x", "", [], {}, (), 1j, b"\x00", object(), [[1, 2], [3]]])
HUGE = st.sampled_from([2**40, 10**20, -(2**63)])
NAN, INF = math.nan, math.inf


def maybe(s):
    """``s`` or a wrong kind of object."""
    return st.one_of(s, JUNK)


def I(lo=-2, hi=6):  # noqa: E743 - an int: small, negative, huge, or a bool
    return st.one_of(st.integers(lo, hi), HUGE, st.booleans())


def P(lo=1, hi=4):  # a valid small size (with occasional bad values)
    return st.one_of(st.integers(lo, hi), st.integers(lo, hi), st.sampled_from([0, -1, 2**40]))


F = st.one_of(st.floats(-10, 10), st.sampled_from([NAN, INF, -INF, 0.0, 1e300, -1e-300]))
POS = st.one_of(st.floats(0.01, 5), st.sampled_from([0.0, -1.0, NAN, INF]))
BOOL = st.booleans()
SEED = st.one_of(st.integers(0, 100), st.sampled_from([-1, 2**64, 2**70]))


def S(*choices):
    return st.sampled_from(list(choices) + ["nope", "", "NS "])


def LIST(s, lo=0, hi=5):
    return st.lists(s, min_size=lo, max_size=hi)


@st.composite
def tensors(draw, shape=None, dtypes=(torch.float32, torch.float32, torch.float64, torch.int64, torch.bool),
            scale=None, lo=None, hi=None):
    """A tensor of ``shape`` (ints fixed, None drawn from 0..4) or of a random shape; random dtype; sometimes
    NaN, inf, out-of-range or empty."""
    if shape is None or draw(st.integers(0, 5)) == 0:
        dims = draw(st.lists(st.integers(0, 4), max_size=4))
    else:
        dims = [draw(st.integers(0, 4)) if s is None else s for s in shape]
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    x = torch.randn(dims, generator=g) * (scale if scale is not None else draw(st.sampled_from([1.0, 1e-3, 30.0])))
    if lo is not None:
        x = x.clamp(lo, hi)
    kind = draw(st.sampled_from(["plain", "plain", "plain", "nan", "inf"]))
    if x.numel() and kind != "plain":
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = NAN if kind == "nan" else INF
    return x.to(draw(st.sampled_from(dtypes)))


def T(*shape, **kw):
    return maybe(tensors(shape or None, **kw))


def A(*shape, **kw):  # numpy arrays (and tensors: most metrics take both)
    return maybe(st.one_of(tensors(shape or None, **kw).map(lambda t: t.numpy()), tensors(shape or None, **kw)))


def IMAGES():
    return maybe(tensors((None, 1, 28, 28), lo=-1.0, hi=1.0))


def BAD_IMAGES():  # never valid: NaN/inf, out of range, wrong shape or dtype, or empty
    def spoil(t):
        return t if (t.dim() != 4 or t.shape[0] == 0 or t.shape[1:] != (1, 28, 28) or not t.is_floating_point()
                     or not torch.isfinite(t).all()) else t * 3 + 2
    return st.one_of(JUNK, tensors((None, 1, 28, 28)).map(spoil))


def _modules_factory():
    from gan_lessons import models

    return [lambda: nn.Linear(2, 3), lambda: models.MLPDiscriminator(2, 4, 1), lambda: nn.Identity(),
            lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), lambda: nn.Sequential(),
            lambda: models.MLPGenerator(2, 2, 4, 1)]


MODULE = st.one_of(st.sampled_from(_modules_factory()).map(lambda make: make()), JUNK)
CALLABLE = st.one_of(st.sampled_from([lambda x: x.sum(-1) if isinstance(x, torch.Tensor) else x, lambda *a: None,
                                      lambda *a: NAN, lambda *a: "x", lambda *a: torch.zeros(2)]), MODULE, JUNK)
GEN = st.one_of(st.none(), st.integers(0, 9).map(lambda s: torch.Generator().manual_seed(s)), JUNK)
PATH = st.sampled_from([WORK / "out.pt", WORK, WORK / "a-file", WORK / "a-file" / "x.pt", WORK / "junk.pt",
                        WORK / "none" / "x.pt", WORK / "junk.gz", "", 3, None])


def _mixtures():
    from gan_lessons import data

    return st.sampled_from([data.ring(4, 1.0, 0.1), data.gaussian_1d(0.0, 1.0), data.grid(2, 1.0, 0.1)])


MIXTURE = st.one_of(st.deferred(_mixtures), JUNK)


def _trainer(steps=1):
    from gan_lessons import data, models, train

    torch.manual_seed(0)
    return train.GANTrainer(models.MLPGenerator(2, 2, 4, 1), models.MLPDiscriminator(2, 4, 1), data.ring(4).sample,
                            train.TrainConfig(steps=steps, batch_size=4), latent_dim=2)


TRAINER = st.one_of(st.builds(_trainer), JUNK)


def _config(**kw):
    from gan_lessons import config

    return config.TrainConfig(**kw)


CONFIG = st.one_of(st.builds(_config, steps=st.integers(0, 2), batch_size=st.integers(1, 4)), JUNK)


def args(*positional, **keywords):
    """A strategy of (args, kwargs): each argument drawn from its strategy."""
    return st.tuples(st.tuples(*positional), st.fixed_dictionaries(keywords))


def bad(*positional, **keywords):
    """Like :func:`args`, for entry points that would train or download when called right: the LAST strategy
    given (the keyword, or else the positional one) must only produce invalid values."""
    return args(*positional, **keywords)


NONE = args()  # no arguments: called as is
SKIP = "skip"


def _class_fields(cls, **strategies):
    return args(**strategies)


# -- the reviewed list: one entry per public name ---------------------------------------------------------
def specs():
    from gan_lessons import collapse, data

    methods = collapse.METHODS + collapse.ENCODER_METHODS
    netspec = st.one_of(st.builds(collapse.NetSpec, latent_dim=P(), g_hidden=P(), d_hidden=P(), g_depth=P(0, 2),
                                  d_depth=P(0, 2), pieces=P()), JUNK)
    recipe = st.one_of(st.builds(lambda s, b: __import__("gan_lessons.classifier").classifier.Recipe(s, b),
                                 st.integers(0, 2), st.integers(1, 4)), JUNK)
    return {
        # averaging
        "gan_lessons.averaging:trainable": args(MODULE),
        "gan_lessons.averaging:ema_copy": args(MODULE),
        "gan_lessons.averaging:ema_update": args(MODULE, MODULE, F),
        "gan_lessons.averaging:historical_state": args(MODULE, MODULE),
        "gan_lessons.averaging:add_historical_gradient": args(MODULE, maybe(st.just({})), S("G", "D"), F),
        "gan_lessons.averaging:fold_into_average": args(MODULE, maybe(st.just({})), S("G", "D")),
        # checkpoints
        "gan_lessons.checkpoints:atomic_save": args(maybe(st.sampled_from([{"a": torch.ones(2)}, [1, 2],
                                                                           lambda: 0])), PATH),
        "gan_lessons.checkpoints:trainer_state": args(TRAINER),
        "gan_lessons.checkpoints:content_hash": args(maybe(st.dictionaries(S("a", "b"), T(), max_size=3))),
        "gan_lessons.checkpoints:check_snapshots": args(maybe(LIST(st.tuples(I(), maybe(T()))))),
        "gan_lessons.checkpoints:load_trainer": args(TRAINER, PATH),
        "gan_lessons.checkpoints:early_stopping": args(maybe(LIST(F)), maybe(I())),
        "gan_lessons.runcache:load_or_train": bad(TRAINER, PATH, st.sampled_from([None, [], {"steps": -1},
                                                                                    {"nope": 1}])),
        "gan_lessons.fitcache:load_or_fit": args(maybe(S("vae", "a b")), MODULE, maybe(st.just({})), T(None, 2),
                                                 st.one_of(st.just(lambda: None), JUNK)),
        "gan_lessons.runcache:cache_root": NONE,
        "gan_lessons.runcache:run_cache_path": args(maybe(S("ok-name", "a b", "../x")), TRAINER,
                                                       maybe(st.just({}))),
        "gan_lessons.runcache:run_fingerprint": args(maybe(S("x")), TRAINER, maybe(st.just({}))),
        "gan_lessons.runcache:source_key": args(maybe(LIST(S("gan_lessons.train", "numpy", "gan_lessons")))),
        "gan_lessons.runcache:module_dependencies": args(maybe(LIST(S("gan_lessons.losses", "os")))),
        # checks
        "gan_lessons.checks:check_int": args(S("n"), maybe(I()), I()),
        "gan_lessons.checks:check_positive": args(S("x"), maybe(F)),
        "gan_lessons.checks:check_choice": args(S("c"), maybe(S("a")), maybe(st.just(("a", "b")))),
        "gan_lessons.checks:check_real": args(S("x"), maybe(F), st.floats(-5, 0), st.floats(0, 5),
                                              open_low=BOOL, open_high=BOOL),
        "gan_lessons.checks:check_seed": args(S("seed"), maybe(SEED)),
        "gan_lessons.checks:check_allocation": args(S("x"), I(), maybe(I())),
        "gan_lessons.checks:check_type": args(S("x"), maybe(I()), st.sampled_from([int, (int, float), str]), S("w")),
        "gan_lessons.checks:check_module": args(S("m"), MODULE),
        "gan_lessons.checks:check_real_batch": args(CALLABLE, st.one_of(T(None, 2), JUNK,
                                                                        st.tuples(T(None, 2), T(None))), I(0, 4)),
        "gan_lessons.checks:check_codes": args(CALLABLE, st.one_of(T(None, 2), JUNK), I(0, 4)),
        "gan_lessons.checks:check_first_batch": args(S("real_sampler f"), T(None, 2), maybe(st.none()), T(None, 2),
                                                     st.sampled_from([torch.float32, torch.float64])),
        "gan_lessons.checks:name_of": args(st.one_of(CALLABLE, JUNK)),
        # classifier (valid images would load or train the MNIST classifier: bad images only)
        "gan_lessons.classifier:Recipe": args(I(), I(), F, F, I()),
        "gan_lessons.classifier:DigitClassifier": NONE,
        "gan_lessons.classifier:get_classifier": bad(st.one_of(JUNK, st.just(1))),
        "gan_lessons.classifier:predict": bad(batch_size=I(), images=BAD_IMAGES()),
        "gan_lessons.classifier:recognised_fraction": bad(threshold=F, images=BAD_IMAGES()),
        "gan_lessons.classifier:class_entropy": bad(BAD_IMAGES()),
        "gan_lessons.classifier:classifier_accuracy": SKIP + ": no arguments; trains or loads the classifier and "
                                                      "reads MNIST (tests/test_classifier.py)",
        "gan_lessons.classifier:train_classifier": args(IMAGES(), T(None, dtypes=(torch.int64, torch.float32)),
                                                        recipe),
        # cli (valid argv would run an experiment or write files: usage errors only)
        "gan_lessons.cli:main": bad(st.sampled_from([["run"], ["run", "nope"], ["nope"], ["list", "x"],
                                                     ["run", "minimax", "--seed", "-1"],
                                                     ["run", "minimax", "--seed", str(2**64)],
                                                     ["run", "minimax", "--profile", "x"],
                                                     ["run", "minimax", "--nope"], ["student-edition", "--nope"],
                                                     [""], ["run", ""]])),
        "gan_lessons.cli:experiments": NONE,
        # collapse
        "gan_lessons.collapse:NetSpec": args(latent_dim=I(), g_hidden=I(), g_depth=I(), g_norm=S(None, "batch"),
                                             d_hidden=I(), d_depth=I(), pieces=I(), init_std=maybe(F),
                                             unroll_steps=I(), unroll_lr=F),
        "gan_lessons.collapse:PackedDiscriminator": args(MODULE, I()),
        "gan_lessons.collapse:MinibatchStdDiscriminator": args(P(), P(), P(), P(0, 2), S("relu", "leaky_relu")),
        "gan_lessons.collapse:minibatch_stddev": args(T(None, None, None)),
        "gan_lessons.collapse:MinibatchDiscriminationDiscriminator": args(P(), P(), P(), P(0, 2),
                                                                          S("relu", "leaky_relu"), P(), P(), P()),
        "gan_lessons.collapse:minibatch_features": args(T(None, None, None, None), maybe(I())),
        "gan_lessons.collapse:build_method": args(S(*methods), P(), netspec, P()),
        "gan_lessons.collapse:MethodRun": args(S("ns"), maybe(st.just({})), I(), TRAINER, maybe(st.just({})), T()),
        "gan_lessons.collapse:MethodSetup": args(S("ns"), maybe(st.just({})), I(), I(), I(), maybe(st.just({}))),
        "gan_lessons.collapse:prepare_method": args(S(*methods), maybe(st.just({"ring": data.ring(4)})), P(),
                                                    CONFIG, n_eval=st.sampled_from([0, -1, 2**40, "x", 1, 16])),
        "gan_lessons.collapse:train_method": bad(S(*methods), maybe(st.just({"ring": data.ring(4)})), P(),
                                                 CONFIG, n_eval=st.sampled_from([0, -1, 2**40, "x", None, 1.5])),
        "gan_lessons.collapse:test_beds": NONE,
        "gan_lessons.collapse:summarise": args(maybe(LIST(maybe(st.dictionaries(S("a"), F, max_size=2))))),
        # config
        "gan_lessons.config:TrainConfig": args(steps=I(), batch_size=I(), d_steps=I(), loss=maybe(S("ns", "hinge")),
                                               lr_d=maybe(F), betas=maybe(st.tuples(F, F)), clip_value=maybe(F),
                                               ema_decay=maybe(F), seed=maybe(SEED), precision=maybe(S("fp32"))),
        "gan_lessons.config:History": args(maybe(LIST(I())), maybe(LIST(F))),
        "gan_lessons.config:make_optimizer": args(MODULE, F, CONFIG),
        # data
        "gan_lessons.data:GaussianMixture": args(maybe(st.tuples(st.tuples(F, F))), maybe(st.tuples(F)),
                                                 maybe(st.tuples(F))),
        "gan_lessons.data:gaussian_1d": args(maybe(F), maybe(F)),
        "gan_lessons.data:mixture_1d": args(maybe(LIST(F, 0, 3)), maybe(st.one_of(F, LIST(F, 0, 3))),
                                            maybe(st.one_of(st.none(), LIST(F, 0, 3)))),
        "gan_lessons.data:ring": args(maybe(I()), maybe(F), maybe(F)),
        "gan_lessons.data:grid": args(maybe(I()), maybe(F), maybe(F)),
        "gan_lessons.data:TensorSampler": args(T(), maybe(st.one_of(st.none(), T()))),
        "gan_lessons.data:mnist": bad(S("val", "TRAIN", 0)),
        "gan_lessons.data:square_grid": args(maybe(st.one_of(F, LIST(F, 0, 3))), I(-1, 30)),
        "gan_lessons.data:swiss_roll": args(I(-1, 30), GEN, maybe(F), maybe(F)),
        # ensemble
        "gan_lessons.ensemble:EnsembleLinear": args(P(), P(), P(), init_std=maybe(st.one_of(st.none(), F)),
                                                    spectral_norm=BOOL),
        "gan_lessons.ensemble:EnsembleBatchNorm": args(P(), P(), F, F),
        "gan_lessons.ensemble:EnsembleMLP": args(P(), P(), P(), P(), P(0, 2), S("relu", "leaky_relu", "maxout"),
                                                 norm=S(None, "batch"), spectral_norm=BOOL, pieces=P()),
        "gan_lessons.ensemble:EnsembleGenerator": args(P(), P(), P(), P(), P(0, 2)),
        "gan_lessons.ensemble:EnsembleDiscriminator": args(P(), P(), P(), P(0, 2)),
        "gan_lessons.ensemble:EnsembleSampler": args(maybe(LIST(st.one_of(st.just(data.ring(4).sample), JUNK)))),
        "gan_lessons.ensemble:ensemble_noise": args(I(), I()),
        "gan_lessons.ensemble:member": args(T(None, None, 2), I()),
        # exercises (the checks take the student's function: wrong kinds and wrong results)
        "gan_lessons.exercises._core:Case": args(maybe(S("d")), maybe(st.tuples()), maybe(st.just({}))),
        "gan_lessons.exercises._core:CheckResult": args(maybe(S("n")), maybe(BOOL), maybe(S("m"))),
        "gan_lessons.exercises._core:check_function": args(CALLABLE, CALLABLE, maybe(st.just([])), name=S("f"),
                                                           verbose=st.just(False)),
        **{f"gan_lessons.exercises.{m}:{f}": args(CALLABLE) for m, fs in {
            "collapse": ["check_reverse_kl_to_uniform", "check_minibatch_stddev", "check_minibatch_features"],
            "dcgan": ["check_feature_matching_loss", "check_interpolate", "check_early_stopping"],
            "encoders": ["check_reparameterise", "check_matched_accuracy"],
            "image_to_image": ["check_psnr", "check_receptive_field"],
            "fid": ["check_frechet_distance", "check_mmd2_unbiased"],
            "hinge": ["check_hinge_discriminator_loss", "check_power_iteration"],
            "minimax": ["check_modified_generator_loss", "check_value_function", "check_total_variation"],
            "theory": ["check_optimal_discriminator", "check_js_divergence", "check_kl_gaussians",
                       "check_generator_penalty", "check_js_distance_gap"],
            "wgan": ["check_critic_loss", "check_gradient_penalty", "check_rmsprop_path"]}.items() for f in fs},
        "gan_lessons.exercises.minimax:reference_value_function": args(T(None), T(None)),
        # fixed_game
        "gan_lessons.fixed_game:FixedDistribution": NONE,
        "gan_lessons.fixed_game:train_discriminator": bad(
            MIXTURE, MIXTURE, S("x"), st.one_of(JUNK, st.fixed_dictionaries(
                {"explore_steps": P(0, 2), "refine_steps": P(0, 2), "batch_size": P(), "refine_batch_size": P()})),
            hidden=st.sampled_from([0, -1, 2**40, "x", None, 1.5])),
        "gan_lessons.fixed_game:discriminator_logits": args(MODULE, A(None, None)),
        # latent
        "gan_lessons.latent:standard_normal_noise": args(maybe(I())),
        "gan_lessons.latent:truncated_noise": args(maybe(st.tuples(I(-1, 5), I(-1, 5))),
                                                   maybe(st.one_of(st.none(), F, st.just(1e-9))), GEN),
        "gan_lessons.latent:interpolate": args(T(None), T(None), maybe(I(-1, 10))),
        # losses
        **{f"gan_lessons.losses:{f}": args(T(None), T(None)) for f in (
            "wasserstein_critic_loss", "hinge_discriminator_loss", "hinge_active")},
        "gan_lessons.losses:minimax_discriminator_loss": args(T(None), T(None), maybe(F)),
        **{f"gan_lessons.losses:{f}": args(T(None)) for f in (
            "minimax_generator_loss", "modified_generator_loss", "wasserstein_generator_loss",
            "hinge_generator_loss")},
        "gan_lessons.losses:wasserstein_gradient_penalty": args(CALLABLE, T(None, 2), T(None, 2),
                                                                maybe(st.one_of(st.none(), T(None))), GEN, BOOL),
        "gan_lessons.losses:r1_penalty": args(T(None), T(None, 2)),
        "gan_lessons.losses:interpolate_gradient_norms": args(CALLABLE, T(None, 2), T(None, 2),
                                                              maybe(st.one_of(st.none(), T(None))), GEN, BOOL),
        # metrics
        "gan_lessons.metrics.modes:nearest_modes": args(T(None, 2), MIXTURE),
        "gan_lessons.metrics.modes:mode_histogram": args(T(None, 2), MIXTURE),
        "gan_lessons.metrics.modes:reverse_kl_to_uniform": args(T(None)),
        "gan_lessons.metrics.modes:mode_collapse_metrics": args(T(None, 2), MIXTURE),
        "gan_lessons.metrics.scores:FeatureStats": NONE,
        "gan_lessons.metrics.scores:feature_statistics": args(A(None, None), maybe(st.one_of(st.none(), I()))),
        "gan_lessons.metrics.scores:frechet_distance": args(A(None), A(None, None), A(None), A(None, None)),
        "gan_lessons.metrics.scores:frechet_distance_sqrtm": args(A(None), A(None, None), A(None), A(None, None),
                                                                  maybe(F)),
        "gan_lessons.metrics.scores:fid_from_features": args(A(None, 3), A(None, 3), maybe(st.one_of(st.none(),
                                                                                                  I()))),
        "gan_lessons.metrics.scores:fid_infinity": args(maybe(LIST(F)), maybe(LIST(F))),
        "gan_lessons.metrics.scores:polynomial_kernel": args(A(None, 2), A(None, 2), maybe(I()), maybe(F)),
        "gan_lessons.metrics.scores:mmd2_unbiased": args(A(None, 2), A(None, 2), maybe(I()), maybe(F)),
        "gan_lessons.metrics.scores:kernel_inception_distance": args(A(None, 2), A(None, 2), I(), I(), maybe(SEED)),
        "gan_lessons.metrics.scores:inception_score": args(A(None, 3), maybe(I())),
        "gan_lessons.metrics.scores:parzen_log_likelihood": args(A(None, 2), A(None, 2), maybe(F), maybe(I())),
        "gan_lessons.metrics.scores:parzen_select_sigma": args(A(None, 2), A(None, 2), maybe(LIST(F))),
        "gan_lessons.metrics.scores:classifier_features": bad(batch_size=I(), images=BAD_IMAGES()),
        "gan_lessons.metrics.scores:classifier_logits": bad(batch_size=I(), images=BAD_IMAGES()),
        "gan_lessons.metrics.scores:inception_features_available": NONE,
        "gan_lessons.metrics.scores:inception_features": bad(batch_size=I(), images=BAD_IMAGES()),
        # attributes
        **{f"gan_lessons.attributes:{f}": args(IMAGES()) for f in ("slant", "ink", "sharpness")},
        # discrete
        "gan_lessons.discrete:MarkovSequences": args(I(), I(), maybe(F), SEED),
        "gan_lessons.discrete:SymbolGenerator": args(P(), P(), P(), mode=maybe(S("soft", "argmax", "x")),
                                                     tau=maybe(F)),
        "gan_lessons.discrete:gradient_to_logits": args(S("soft", "argmax", "straight-through", "x"), maybe(F),
                                                        alphabet=I(), n=I(), seed=SEED),
        "gan_lessons.discrete:distribution": args(
            st.one_of(st.builds(lambda: __import__("gan_lessons.discrete").discrete.SymbolGenerator(2, 2, 3)),
                      JUNK), I(), SEED),
        "gan_lessons.discrete:total_variation": args(maybe(A(None)), maybe(A(None))),
        # infogan
        "gan_lessons.infogan:LatentCodes": args(I(), I(), I()),
        "gan_lessons.infogan:InfoGANGenerator": args(P(), P(), P(0, 3)),
        "gan_lessons.infogan:random_shift": args(T(None, None, None, None), P(0, 3), F),
        "gan_lessons.infogan:InfoGANDiscriminator": args(P(), P(0, 3), P(0, 2), P(), P(0, 3)),
        "gan_lessons.infogan:InfoGANObjective": args(
            st.one_of(st.builds(lambda: __import__("gan_lessons.infogan").infogan.LatentCodes(2, 3, 1)), JUNK),
            maybe(F), maybe(F)),
        "gan_lessons.infogan:mutual_information_bound": args(T(None, 3), maybe(T(None)), T(None, 2), T(None, 2),
                                                             maybe(F)),
        "gan_lessons.infogan:train_infogan": bad(steps=P(), digits=JUNK),
        "gan_lessons.infogan:code_accuracy": args(TRAINER, P(), SEED),
        "gan_lessons.infogan:noise_share": args(TRAINER, P(), SEED),
        "gan_lessons.infogan:within_share": args(T(None, None, None)),
        "gan_lessons.infogan:confusion_matrix": args(T(None), T(None), P(), P()),
        "gan_lessons.infogan:matched_accuracy": args(A(None, None)),
        "gan_lessons.infogan:correlation": args(A(None), A(None), S("pearson", "spearman")),
        "gan_lessons.infogan:attribute_correlations": args(TRAINER, maybe(LIST(F, 0, 4)), P(), SEED, S("spearman")),
        # vae
        "gan_lessons.vae:VAE": args(P(), P()),
        "gan_lessons.vae:reparameterise": args(T(None, 3), T(None, 3), maybe(T(None, 3)), GEN),
        "gan_lessons.vae:kl_divergence": args(T(None, 3), T(None, 3)),
        "gan_lessons.vae:pixel_loss": args(T(None, 4), T(None, 4)),
        "gan_lessons.vae:VAEGANObjective": args(
            st.one_of(st.builds(lambda: __import__("gan_lessons.vae").vae.VAE(2, 2)), JUNK), maybe(F), maybe(F), SEED),
        "gan_lessons.vae:train_vae": bad(st.one_of(st.builds(lambda: __import__("gan_lessons.vae").vae.VAE(2, 2)),
                                                   JUNK), steps=P(), images=BAD_IMAGES()),
        # image_to_image and text_to_image (chapter "Conditional image generation")
        "gan_lessons.image_to_image:downsample": args(IMAGES(), maybe(I(-1, 8))),
        "gan_lessons.image_to_image:upsample": args(T(None, 1, None, None), maybe(I(-1, 30))),
        "gan_lessons.image_to_image:mask_lower_half": args(IMAGES()),
        "gan_lessons.image_to_image:psnr": args(IMAGES(), IMAGES(), maybe(F)),
        "gan_lessons.image_to_image:receptive_field": args(maybe(LIST(st.one_of(st.tuples(I(), I()), JUNK)))),
        "gan_lessons.image_to_image:UNetGenerator": args(P()),
        "gan_lessons.image_to_image:PatchDiscriminator": args(P()),
        "gan_lessons.image_to_image:PairedObjective": args(adversarial_weight=maybe(F)),
        "gan_lessons.image_to_image:l1_loss": args(T(None, 4), T(None, 4)),
        "gan_lessons.text_to_image:attribute_medians": args(IMAGES(), T(None)),
        "gan_lessons.text_to_image:attribute_levels": args(IMAGES(), T(None), T(10, 2)),
        "gan_lessons.text_to_image:caption": args(I(-1, 12), I(-1, 2), I(-1, 2)),
        "gan_lessons.text_to_image:tokenize": args(maybe(LIST(S("a bold right-leaning seven", "a thin one")))),
        "gan_lessons.text_to_image:caption_tokens": args(T(None), T(None, 2)),
        "gan_lessons.text_to_image:TextEncoder": args(P()),
        "gan_lessons.text_to_image:TextGenerator": args(P(), P(), P()),
        "gan_lessons.text_to_image:TextDiscriminator": args(P(), P()),
        "gan_lessons.text_to_image:MatchingAwareObjective": args(real_label=maybe(F)),
        "gan_lessons.text_to_image:mismatched": args(T(None)),
        "gan_lessons.text_to_image:attribute_agreement": args(IMAGES(), T(None), T(None, 2), T(10, 2)),
        # mnist (no network: GAN_LESSONS_OFFLINE=1 and local junk mirrors)
        "gan_lessons.mnist:mnist": bad(S("val", 0, None)),
        "gan_lessons.mnist:load_digits": SKIP + ": no arguments; reads all of MNIST (tests/test_mnist.py)",
        "gan_lessons.mnist:data_dir": NONE,
        "gan_lessons.mnist:fetch_file": args(maybe(S("x.gz")), maybe(S("00")), PATH,
                                             maybe(st.sampled_from([[], ["http://127.0.0.1:9/"]])), F,
                                             verbose=st.just(False)),
        "gan_lessons.mnist:read_idx": args(PATH),
        "gan_lessons.mnist:subset_mnist": args(S("train", "test", 3)),
        # models
        # mode_regularised
        "gan_lessons.mode_regularised:EncodedGenerator": args(MODULE, MODULE),
        "gan_lessons.mode_regularised:ModeRegularisedObjective": args(
            model=st.one_of(st.builds(lambda: __import__("gan_lessons.mode_regularised").mode_regularised.build(
                1, hidden=4, depth=1)[0]), JUNK), geometric_weight=maybe(F), mode_weight=maybe(F)),
        "gan_lessons.mode_regularised:reconstruction_error": args(T(None, None, 2), T(None, None, 2)),
        "gan_lessons.mode_regularised:build": args(P(), P(), P(), P(), P(0, 2), maybe(F), maybe(F)),
        "gan_lessons.magan:MarginObjective": args(maybe(F), maybe(BOOL), maybe(I())),
        "gan_lessons.magan:energy": args(T(None, 3)),
        "gan_lessons.models:mlp": args(P(), P(), P(), P(0, 3), S("relu", "leaky_relu", "maxout", "tanh"),
                                       S(None, "batch", "layer")),
        "gan_lessons.models:MLPGenerator": args(P(), P(), P(), P(0, 3), S("relu")),
        "gan_lessons.models:MLPDiscriminator": args(P(), P(), P(0, 3), S("leaky_relu"), S(None, "batch")),
        "gan_lessons.models:MLPImageGenerator": args(P(), P(), P(0, 2)),
        "gan_lessons.models:MLPImageDiscriminator": args(P(), P(0, 2)),
        "gan_lessons.models:DCGANGenerator": args(P(), P(), P(0, 3)),
        "gan_lessons.models:DCGANDiscriminator": args(P(), P(0, 3)),
        "gan_lessons.models:ConvCritic": args(P()),
        "gan_lessons.models:dcgan_init": args(MODULE),
        "gan_lessons.models:without_batchnorm": args(MODULE),
        # objectives
        "gan_lessons.objectives:Objective": NONE,
        "gan_lessons.objectives:JSObjective": args(maybe(BOOL), maybe(F), maybe(F), maybe(I())),
        "gan_lessons.objectives:WassersteinObjective": args(maybe(F), maybe(BOOL)),
        "gan_lessons.objectives:HingeObjective": NONE,
        "gan_lessons.objectives:FeatureMatchingObjective": args(maybe(BOOL), maybe(F), maybe(F), maybe(I())),
        "gan_lessons.objectives:UnrolledObjective": args(JUNK, maybe(I()), maybe(F)),
        "gan_lessons.objectives:OrthogonalRegularisedObjective": args(maybe(BOOL), maybe(F), maybe(F), maybe(I()),
                                                                       MODULE, maybe(F)),
        "gan_lessons.objectives:feature_matching_loss": args(T(None, 3), T(None, 3)),
        "gan_lessons.objectives:make_objective": args(maybe(S("ns", "wgan-gp", "hinge")), gp_weight=maybe(F)),
        # plots: image_grid returns an array; the rest draw on a figure
        "gan_lessons.plots:image_grid": args(T(None, 1, None, None), maybe(I()), maybe(I())),
        **{f"gan_lessons.plots:{f}": SKIP + ": draws on a matplotlib figure" for f in (
            "use_style", "animate", "slider", "scatter_2d", "heatmap", "discriminator_heatmap", "plot_history")},
        # runtime
        "gan_lessons.runtime:get_device": args(maybe(S(None, "cpu", "cuda:9", "tpu"))),
        "gan_lessons.runtime:get_profile": args(maybe(S(None, "quick", "full"))),
        "gan_lessons.runtime:pick": args(I(), I(), maybe(S("quick", "full"))),
        "gan_lessons.runtime:seed_everything": args(maybe(SEED)),
        "gan_lessons.runtime:banner": args(maybe(st.just({"steps": 1})), maybe(S(None, "quick")),
                                           maybe(S(None, "cpu")), maybe(BOOL)),
        "gan_lessons.runtime:progress_bar": args(maybe(I()), maybe(I()), maybe(BOOL), maybe(S("x"))),
        "gan_lessons.runtime:Budget": args(maybe(S("quick", "full"))),
        "gan_lessons.runtime:sized": args(I(), I(), steps=BOOL, minimum=I(), multiple=I()),
        "gan_lessons.runtime:step_scale": NONE,
        "gan_lessons.runtime:one_thread": args(st.one_of(BOOL, JUNK)),
        "gan_lessons.runtime:is_small": args(MODULE, MODULE, device=st.one_of(S("cpu", "meta", "bogus"), JUNK)),
        "gan_lessons.runtime:cpu_load": NONE,
        "gan_lessons.runtime:ThreadPolicy": args(maybe(BOOL), maybe(POS), cores=maybe(I(-1, 4))),
        "gan_lessons.runtime:native_bf16": NONE,
        "gan_lessons.runtime:image_precision": args(st.one_of(st.sampled_from([torch.device("cpu"),
                                                                               torch.device("cuda")]), JUNK)),
        # spectral
        "gan_lessons.spectral:power_iteration": args(T(None, None), T(None), maybe(I(-1, 5)), maybe(F)),
        "gan_lessons.spectral:power_iteration_trace": args(T(None, None), T(None), maybe(I(-1, 5))),
        "gan_lessons.spectral:top_singular_value": args(T(None, None)),
        "gan_lessons.spectral:spectral_normalize": args(MODULE, maybe(I())),
        "gan_lessons.spectral:weight_layers": args(MODULE),
        "gan_lessons.spectral:lipschitz_upper_bound": args(MODULE),
        "gan_lessons.spectral:empirical_lipschitz": args(MODULE, T(None, 2)),
        "gan_lessons.spectral:orthogonal_init_": args(MODULE, maybe(F)),
        "gan_lessons.spectral:orthogonal_penalty": args(MODULE, maybe(F)),
        "gan_lessons.spectral:ensemble_sigma": args(T(None, None, None), T(None, None), maybe(BOOL)),
        "gan_lessons.spectral:ensemble_lipschitz_bounds": args(MODULE),
        # student edition (writes only under the suite's own folder)
        "gan_lessons.student:main": bad(st.sampled_from([[], ["--nope"], [str(WORK / "a-file")]])),
        "gan_lessons.student:write_student_edition": args(st.sampled_from([WORK / "a-file", WORK / "se", 3]),
                                                          st.sampled_from([WORK, WORK / "none", None])),
        "gan_lessons.student:toc_notebooks": args(st.sampled_from([WORK, WORK / "a-file", WORK / "none", 3])),
        "gan_lessons.student:find_book_root": NONE,
        "gan_lessons.student:student_notebook": args(JUNK, maybe(S("nb"))),
        "gan_lessons.student:stub_code": args(maybe(S("x = 1", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
                                                      "### BEGIN SOLUTION\n", "### END SOLUTION"))),
        "gan_lessons.student:solution_regions": args(JUNK),
        "gan_lessons.student:solution_blocks": args(maybe(S("### BEGIN SOLUTION\nx\n### END SOLUTION", "x"))),
        "gan_lessons.student:is_check_cell": args(maybe(S("check_x(f)", "x"))),
        # theory
        "gan_lessons.theory:OptimalDiscriminatorDerivation": args(JUNK, JUNK, JUNK, JUNK, JUNK),
        "gan_lessons.theory:optimal_discriminator_derivation": NONE,
        "gan_lessons.theory:verify_optimal_discriminator": args(st.one_of(JUNK, st.just(lambda a, b: a / (a + b)))),
        "gan_lessons.theory:verify_virtual_training_criterion": NONE,
        "gan_lessons.theory:verify_generator_losses_at_optimum": NONE,
        "gan_lessons.theory:generator_penalty_terms": args(A(None), A(None), S("saturating", "non-saturating")),
        "gan_lessons.theory:generator_penalty": args(MIXTURE, MIXTURE, A(None), S("saturating", "non-saturating")),
        "gan_lessons.theory:generator_penalty_discrete": args(maybe(LIST(F)), maybe(LIST(F)),
                                                              S("saturating", "non-saturating")),
        "gan_lessons.theory:discrete_value_at_optimum": args(maybe(LIST(F, 0, 3)), maybe(LIST(F, 0, 3))),
        "gan_lessons.theory:optimal_discriminator": args(MIXTURE, MIXTURE, A(None)),
        "gan_lessons.theory:optimal_discriminator_values": args(A(None), A(None)),
        "gan_lessons.theory:kl_divergence": args(MIXTURE, MIXTURE, A(None)),
        "gan_lessons.theory:js_divergence": args(MIXTURE, MIXTURE, A(None)),
        "gan_lessons.theory:wasserstein1": args(MIXTURE, MIXTURE, A(None)),
        "gan_lessons.theory:kl_divergence_discrete": args(maybe(LIST(F)), maybe(LIST(F))),
        "gan_lessons.theory:js_divergence_discrete": args(maybe(LIST(F)), maybe(LIST(F))),
        "gan_lessons.theory:js_distance_discrete": args(maybe(LIST(F)), maybe(LIST(F))),
        "gan_lessons.theory:js_divergence_samples": args(maybe(LIST(F)), maybe(LIST(F)), maybe(I())),
        "gan_lessons.theory:wasserstein1_samples": args(maybe(LIST(F)), maybe(LIST(F))),
        "gan_lessons.theory:kl_gaussians": args(maybe(F), maybe(F), maybe(F), maybe(F)),
        "gan_lessons.theory:wasserstein1_gaussians": args(maybe(F), maybe(F), maybe(F), maybe(F)),
        "gan_lessons.theory:value_of_discriminator": args(A(None), MIXTURE, MIXTURE, A(None)),
        "gan_lessons.theory:grid": args(maybe(F), maybe(F), maybe(I(-1, 50))),
        # train
        "gan_lessons.train:GANTrainer": args(MODULE, MODULE, st.one_of(st.just(data.ring(4).sample), CALLABLE),
                                             CONFIG, latent_dim=maybe(I())),
        "gan_lessons.train:train_gan": args(MODULE, MODULE, st.one_of(st.just(data.ring(4).sample), CALLABLE),
                                            CONFIG, latent_dim=maybe(I(1, 3)), progress=st.just(False)),
        # wgan
        "gan_lessons.wgan:wasserstein_estimate": args(CALLABLE, T(None, 2), T(None, 2)),
        "gan_lessons.wgan:interpolate_gradient_norms": args(CALLABLE, T(None, 2), T(None, 2)),
        "gan_lessons.wgan:layer_gradient_norms": args(MODULE, T(None, 2), T(None, 2)),
        "gan_lessons.wgan:linear_weights": args(MODULE),
        "gan_lessons.vbn:VirtualBatchNorm2d": args(P(), P(), maybe(F)),
        "gan_lessons.vbn:VirtualBatchNormGenerator": args(MODULE, P(), maybe(I())),
        "gan_lessons.wgan:rmsprop_path": args(T(None, None), maybe(F), maybe(F), maybe(F)),
        # claims
        "gan_lessons.claims:claim": args(maybe(S("a-claim")), maybe(BOOL), true_text=maybe(S("yes")),
                                         false_text=maybe(S("no")), expected=st.just(False)),
        "gan_lessons.claims:claims_mode": NONE,
        "gan_lessons.claims:registry": NONE,
        "gan_lessons.claims:clear": NONE,
        "gan_lessons.claims:save": args(maybe(S("01_x", "../up", "a b"))),
        # distributed (launch and main start processes: bad arguments only)
        "gan_lessons.distributed:ShardedSampler": args(CALLABLE, maybe(I()), maybe(I())),
        "gan_lessons.distributed:DistributedGANTrainer": bad(MODULE, MODULE, CALLABLE, CONFIG,
                                                             latent_dim=st.sampled_from([None, 0, -1, "x"])),
        "gan_lessons.distributed:CrossReplicaBatchNorm": args(maybe(I())),
        "gan_lessons.distributed:sync_batchnorm": args(MODULE),
        "gan_lessons.distributed:combine_batch_statistics": args(T(None), T(None, None), T(None, None)),
        "gan_lessons.distributed:launch": bad(maybe(LIST(S("x"))), st.sampled_from([0, -1, "x", 2**40])),
        "gan_lessons.distributed:weight_difference": args(maybe(st.one_of(PATH, st.just({}))),
                                                          maybe(st.one_of(PATH, st.just({})))),
        "gan_lessons.distributed:init_distributed": bad(st.sampled_from(["nope", 3, ""])),
        "gan_lessons.distributed:rank_and_world": NONE,
        "gan_lessons.distributed:unwrap": args(MODULE),
        "gan_lessons.distributed:main": bad(st.sampled_from([["--nope"], ["--steps", "-1"], ["--steps", "x"],
                                                             ["--batch-size", "0"]])),
        # exercises.scaling
        "gan_lessons.exercises.scaling:check_global_variance": args(st.one_of(JUNK, CALLABLE)),
        # lab (the widget needs a front end; the state object and its views are checked)
        "gan_lessons.lab:Lab": args(loss=maybe(S("ns", "hinge")), lr_d=maybe(F), d_steps=maybe(I()),
                                    batch_size=maybe(I(1, 8)), seed=maybe(SEED), target=maybe(S("ring", "grid")),
                                    hidden=maybe(I(1, 8)), n_eval=maybe(I(1, 16)), n_arrows=maybe(I(1, 8)),
                                    resolution=maybe(I(1, 8)), latent_lines=maybe(I(1, 5)), bins=maybe(I(1, 8))),
        "gan_lessons.lab:LabViews": SKIP + ": a plain record of arrays that Lab.views() fills (tests/test_lab.py)",
        "gan_lessons.lab:LabFrame": SKIP + ": a plain record that Lab.frame() fills (tests/test_lab.py)",
        "gan_lessons.lab:LabFigure": SKIP + ": draws a matplotlib figure",
        "gan_lessons.lab:LabWidget": SKIP + ": an ipywidgets widget (needs a notebook front end)",
        "gan_lessons.lab:generator_arrows": args(st.one_of(JUNK, st.just(__import__("gan_lessons.objectives").
                                                                         objectives.JSObjective())),
                                                MODULE, T(None, 2), T(None, 2)),
        # models added for chapter "Scaling up"
        "gan_lessons.models:CCBNGenerator": args(maybe(I(1, 8)), maybe(I(1, 4)), maybe(I(0, 4)), maybe(I(1, 4))),
        "gan_lessons.models:ConditionalBatchNorm2d": args(maybe(I(0, 4)), maybe(I(0, 4))),
        "gan_lessons.models:ProjectionDiscriminator": args(maybe(I(1, 4)), maybe(I(0, 4))),
        # runtime and theory additions
        "gan_lessons.runtime:book_seed": NONE,
        "gan_lessons.theory:js_divergence_histogram_2d": args(T(None, 2), T(None, 2), maybe(F), maybe(I(-1, 8))),
        # colab (the one home of the repository URL and release tag)
        **{f"gan_lessons.colab:{f}": args(maybe(st.one_of(PATH, st.just(str(PACKAGE.parent)))))
           for f in ("repository_url", "release_tag", "install_requirement", "colab_cell_source")},
        # exercises' grading helpers
        "gan_lessons.exercises._core:CheckSpec": args(maybe(S("x")), CALLABLE, maybe(st.just(()))),
        "gan_lessons.exercises._core:spec_of": args(st.one_of(JUNK, CALLABLE)),
        "gan_lessons.exercises._core:run_case": args(JUNK, CALLABLE, JUNK),
        "gan_lessons.exercises._core:judge": args(JUNK, JUNK, JUNK, JUNK),
        # grade (a valid call executes notebooks: bad arguments only)
        "gan_lessons.grade:Exercise": args(maybe(S("g")), maybe(S("c")), maybe(S("f")), maybe(S("s"))),
        "gan_lessons.grade:exercises_of": args(JUNK),
        "gan_lessons.grade:grade_notebook": bad(PATH, PATH, S("student"), st.sampled_from([0, -1, "x", NAN])),
        "gan_lessons.grade:grade_folder": bad(PATH, PATH, st.sampled_from([0, -1, "x", NAN])),
        "gan_lessons.grade:write_csv": args(maybe(LIST(st.just({}), 0, 2)), PATH),
        "gan_lessons.grade:main": bad(st.sampled_from([[], ["--nope"], ["a-dir-that-is-not-there", "--out", "x.csv"],
                                                       ["x", "--timeout", "-1"]])),
        # nbgrader_meta (valid calls rewrite the book's notebooks: junk and check-only calls)
        "gan_lessons.nbgrader_meta:nbgrader_notebook": args(JUNK),
        "gan_lessons.nbgrader_meta:cell_roles": args(JUNK),
        "gan_lessons.nbgrader_meta:nbgrader_config": NONE,
        "gan_lessons.nbgrader_meta:synced_notebook": args(JUNK, PATH),
        "gan_lessons.nbgrader_meta:sync_notebooks": bad(PATH, st.just(True)),
        "gan_lessons.nbgrader_meta:main": bad(st.sampled_from([["--nope"], ["a", "b"]])),
        "gan_lessons.nbgrader_meta:config_main": bad(st.sampled_from([["--nope"], ["x"]])),
        # exception classes: raised, not called with user input
        **{k: SKIP + ": an exception class" for k in ("gan_lessons.config:TrainingDiverged",
                                                     "gan_lessons.claims:ClaimFailed",
                                                     "gan_lessons.distributed:DistributedSetupError",
                                                     "gan_lessons.exercises._core:CheckFailed",
                                                     "gan_lessons.grade:GradeError",
                                                     "gan_lessons.claims:ClaimWarning",
                                                     "gan_lessons.mnist:MNISTDownloadError",
                                                     "gan_lessons.student:StudentEditionError")},
        # widgets
        "gan_lessons.widgets:live": SKIP + ": draws a figure per slider value (tests/test_plots.py runs it)",
        "gan_lessons.widgets:static": SKIP + ": draws a matplotlib figure per value",
    }


# Known gaps, each with its reason: the test runs and is reported as xfail (XPASS once fixed: then remove the
# entry). They are in files another helper owns at the time of writing (gan_lessons/student.py and
# gan_lessons/exercises/* are being rewritten for nbgrader), so their entry checks are left to that work.
KNOWN_GAPS: dict[str, str] = {}  # name -> reason, reported as xfail (none at present)

SPECS = specs()
API = public_api()
CHECKED = sorted(k for k, v in SPECS.items() if not isinstance(v, str) and k in API)


# -- the property ------------------------------------------------------------------------------------------
def _has_nan(value, depth=0) -> bool:
    if depth > 4:
        return False
    if isinstance(value, torch.Tensor):
        return bool(value.is_floating_point() and torch.isnan(value.detach()).any())
    if isinstance(value, np.ndarray):
        return bool(value.dtype.kind in "fc" and np.isnan(value).any())
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (list, tuple)):
        return any(_has_nan(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v, depth + 1) for v in value.values())
    return False


def _ours(err: BaseException) -> bool:
    if type(err).__module__.startswith("gan_lessons"):
        return True
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(PACKAGE) and \
        isinstance(err, (ValueError, TypeError, FileNotFoundError, IsADirectoryError, NotADirectoryError))


def check_call(key, fn, call):
    positional, keywords = call
    CALLS[0] += 1
    signal.alarm(CALL_LIMIT_S)  # per call: a hang fails the example instead of stalling CI
    try:
        result = fn(*positional, **keywords)
    except SystemExit as stop:  # the command line: usage errors end with status 2
        assert key.endswith("main") and stop.code == 2, f"{key} exited with {stop.code}"
        return
    except _Hang:
        raise AssertionError(f"{key}{_short(call)} ran for more than {CALL_LIMIT_S} s: a hang") from None
    except Exception as err:  # noqa: BLE001 - the property is about which exceptions come out
        detail = "".join(traceback.format_exception(err)[-6:])
        assert _ours(err), f"{key}{_short(call)} raised a raw {type(err).__name__}:\n{detail}"
        assert str(err).strip(), f"{key} raised {type(err).__name__} without a message"
        return
    finally:
        signal.alarm(0)
    assert not _has_nan(result), f"{key}{_short(call)} returned NaN: {result!r}"[:2000]


def _short(call) -> str:
    text = repr(call)
    return text if len(text) < 600 else text[:600] + "..."


CALL_LIMIT_S = 10
CALLS = [0]  # examples run in this session (printed by test_coverage_count, the last test of the file)


class _Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in the package swallows it."""


def _on_alarm(signum, frame):
    raise _Hang()


signal.signal(signal.SIGALRM, _on_alarm)


@pytest.mark.parametrize("key", [pytest.param(k, marks=pytest.mark.xfail(reason=KNOWN_GAPS[k], strict=False))
                                 if k in KNOWN_GAPS else k for k in CHECKED])
def test_public_function_never_fails_raw_or_returns_nan(key):
    fn = API[key]

    @given(call=SPECS[key])
    def prop(call):
        with np.errstate(all="ignore"):
            check_call(key, fn, call)

    prop()


# -- coverage cannot shrink silently ---------------------------------------------------------------------
def test_every_public_name_has_a_reviewed_entry():
    missing = sorted(set(API) - set(SPECS))
    assert not missing, f"public names without an entry in tests/test_properties.py SPECS: {missing}"
    stale = sorted(set(SPECS) - set(API))
    assert not stale, f"SPECS entries for names that are no longer public: {stale}"
    for key, spec in SPECS.items():
        if isinstance(spec, str):
            assert spec.startswith("skip: ") and len(spec) > 12, f"{key}: a skip needs its reason"


def test_every_package_module_lists_its_public_names():
    for module in _modules():
        assert hasattr(module, "__all__"), f"{module.__name__} has no __all__"


def test_coverage_count():
    """The numbers the report quotes: functions checked, skipped (with reasons), examples per function."""
    skipped = [k for k, v in SPECS.items() if isinstance(v, str)]
    print(f"\nproperty suite: {len(CHECKED)} public functions/classes checked, {len(skipped)} skipped, "
          f"max_examples={settings().max_examples} each, {CALLS[0]} examples run in this session")
    assert len(CHECKED) >= 150
