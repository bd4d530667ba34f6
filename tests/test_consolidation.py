"""The package's shared pieces: one sampling entry point, one objective registry, a run-cache key made of the
modules a run uses, all-or-nothing loading, saves that never lose a run, one budget type per chapter."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import torch

from gan_lessons import checkpoints, data, models, objectives, plots, runcache, runtime, train

RING = data.ring(8, radius=2.0, std=0.05)
PACKAGE = Path(__file__).resolve().parents[1] / "gan_lessons"


def trainer(steps=3, width=8, **cfg):
    torch.manual_seed(0)
    return train.GANTrainer(models.MLPGenerator(2, 2, width, 1), models.MLPDiscriminator(2, width, 1), RING.sample,
                            train.TrainConfig(steps=steps, batch_size=16, **cfg), latent_dim=2)


# -- sampling -------------------------------------------------------------------------------------------
def test_sample_from_codes_rng_and_batches_agree():
    t = trainer()
    t.fit(progress=False)
    z = torch.randn(10, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = t.G.eval()(z)
    t.G.train()
    assert torch.equal(t.sample(z=z), expected)
    torch.testing.assert_close(t.sample(z=z, batch=3), expected)  # batching: the same up to float rounding
    a = t.sample(10, rng=torch.Generator().manual_seed(3))
    assert torch.equal(a, expected)  # the noise sampler draws the same codes from that stream
    assert t.G.training  # the mode is restored


def test_sample_uses_the_ema_copy_and_labels():
    t = trainer(ema_decay=0.5)
    t.fit(progress=False)
    z = torch.randn(4, 2)
    with torch.no_grad():
        assert torch.equal(t.sample(z=z), t.ema(z))
        assert torch.equal(t.sample(z=z, use_ema=False), t.G.eval()(z))


@pytest.mark.parametrize("kwargs, match", [
    ({}, "n must be an integer"),
    ({"n": 0}, "n must be an integer"),
    ({"n": 4, "z": torch.zeros(4, 2)}, "either n"),
    ({"z": [[0.0, 0.0]]}, "either n"),
    ({"n": 4, "batch": 0}, "batch"),
    ({"z": torch.zeros(4, 2), "labels": torch.zeros(3, dtype=torch.long)}, "labels"),
])
def test_sample_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        trainer().sample(**kwargs)


# -- one registry of objectives -------------------------------------------------------------------------
def test_objective_registry_is_the_one_vocabulary():
    assert set(objectives.OBJECTIVES) == {"minimax", "ns", "wasserstein", "wgan-gp", "hinge", "feature-matching",
                                          "unrolled"}
    assert objectives.make_objective("wgan-gp").gp_weight == 10.0
    assert objectives.make_objective("wgan-gp", gp_weight=5).gp_weight == 5
    assert objectives.make_objective("minimax").saturating
    assert isinstance(trainer(loss="hinge").objective, objectives.HingeObjective)
    with pytest.raises(ValueError, match="unknown loss 'lsgan'"):
        objectives.make_objective("lsgan")
    with pytest.raises(TypeError, match="does not take"):
        objectives.make_objective("hinge", gp_weight=1)
    with pytest.raises(ValueError, match="real_label"):
        objectives.JSObjective(real_label=1.5)


def test_per_member_penalty_equals_separate_penalties():
    """The ensemble penalty of WassersteinObjective(per_member=True) is the mean of each member's own GP."""
    w = torch.tensor([[1.0, 2.0], [-3.0, 0.5]])  # member m's critic: x -> (x . w_m)^2

    def critic(x):  # [batch, members, 2] -> [batch, members]
        return (x * w).sum(2) ** 2

    real, fake = torch.randn(5, 2, 2), torch.randn(5, 2, 2)
    eps = torch.rand(5, 2)
    from gan_lessons import losses

    got = losses.wasserstein_gradient_penalty(critic, real, fake, eps=eps, per_member=True)
    parts = [losses.wasserstein_gradient_penalty(lambda x, m=m: (x * w[m]).sum(1) ** 2, real[:, m], fake[:, m],
                                                 eps=eps[:, m]) for m in range(2)]
    torch.testing.assert_close(got, sum(parts) / 2)


# -- the run cache: a key of the modules a run uses ----------------------------------------------------------
def test_source_key_follows_the_trainer_but_not_the_plots(monkeypatch):
    t = trainer()
    before = runcache.run_fingerprint("x", t, {})
    deps = runcache.module_dependencies(["gan_lessons.train"])
    assert {"gan_lessons.train", "gan_lessons.objectives", "gan_lessons.losses"} <= deps
    assert "gan_lessons.plots" not in deps and "gan_lessons.widgets" not in deps
    real = runcache._read_source

    def edited(module, target):
        return lambda m: real(m) + (b"\n# one line more\n" if m == target else b"")

    monkeypatch.setattr(runcache, "_read_source", edited(None, "gan_lessons.plots"))
    assert runcache.run_fingerprint("x", t, {}) == before  # editing a plot keeps every cached run
    monkeypatch.setattr(runcache, "_read_source", edited(None, "gan_lessons.train"))
    assert runcache.run_fingerprint("x", t, {}) != before  # a trainer line gives a new key
    monkeypatch.setattr(runcache, "_read_source", edited(None, "gan_lessons.models"))
    assert runcache.run_fingerprint("x", t, {}) != before  # so does the module of G and D


def test_failed_cache_save_keeps_the_trained_run(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(blocker))
    with pytest.warns(UserWarning, match="GAN_LESSONS_CACHE"):
        t = train.train_gan(models.MLPGenerator(2, 2, 8, 1), models.MLPDiscriminator(2, 8, 1), RING.sample,
                            train.TrainConfig(steps=2, batch_size=8), latent_dim=2, cache="unit", progress=False)
    assert t.step == 2  # trained and returned, not lost


def test_load_is_all_or_nothing(tmp_path):
    wide = trainer(width=8)
    wide.fit(progress=False)
    path = wide.save(tmp_path / "wide.pt")
    other = train.GANTrainer(models.MLPGenerator(2, 2, 8, 1), models.MLPDiscriminator(2, 16, 1), RING.sample,
                             wide.config, latent_dim=2)  # same G, D of another width
    g_before = {k: v.clone() for k, v in other.G.state_dict().items()}
    with pytest.raises(ValueError, match="nothing was loaded"):
        other.load(path)
    assert all(torch.equal(g_before[k], v) for k, v in other.G.state_dict().items())
    assert other.step == 0
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="delete it or train again"):
        wide.load(tmp_path / "junk.pt")


def test_resume_from_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.train_gan(models.MLPGenerator(2, 2, 8, 1), models.MLPDiscriminator(2, 8, 1), RING.sample,
                        train.TrainConfig(steps=1), latent_dim=2, resume_from=tmp_path / "none.pt")


def test_atomic_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken(obj, f):
        Path(f).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.atomic_save({"a": 1}, tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


# -- budgets ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Budget(runtime.Budget):
    steps: int = runtime.sized(10, 1000, steps=True)
    width: int = runtime.sized(8, 64)
    lr: float = runtime.sized(1e-3, 2e-4)


def test_budget_values_overrides_and_step_scale(monkeypatch):
    assert dict(_Budget.of("quick")) == {"steps": 10, "width": 8, "lr": 1e-3}
    assert _Budget.of("full")["width"] == 64 and _Budget.of("full").steps == 1000
    assert _Budget.of("quick", steps=None).steps == 10 and _Budget.of("quick", steps=7).steps == 7
    monkeypatch.setenv("GAN_LESSONS_STEP_SCALE", "0.01")
    assert _Budget.of("full").steps == 10 and _Budget.of("full").width == 64  # only steps shrink
    monkeypatch.setenv("GAN_LESSONS_STEP_SCALE", "2")
    with pytest.raises(ValueError, match="GAN_LESSONS_STEP_SCALE"):
        _Budget.of("full")


@pytest.mark.parametrize("override, match", [({"steps": 0}, ">= 1"), ({"steps": 2.5}, "must be a int"),
                                             ({"depth": 3}, "no setting depth"), ({"lr": float("nan")}, "lr")])
def test_budget_rejects_bad_overrides(override, match):
    with pytest.raises(ValueError, match=match):
        _Budget.of("quick", **override)


def test_every_chapter_module_has_a_typed_budget():
    from gan_lessons import cli

    for name, module in cli.experiments().items():
        if not hasattr(module, "budget"):
            continue
        b = module.budget("quick")
        assert isinstance(b, runtime.Budget), name
        assert dict(b) and all(isinstance(k, str) for k in b)


# -- structure -------------------------------------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.add(("." * node.level) + (node.module or "") + ":" + ",".join(a.name for a in node.names))
    return found


def test_no_module_imports_a_chapter_module_except_the_cli():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "experiments" or rel.name == "cli.py":
            continue
        for imp in _imports(path):
            assert "experiments" not in imp, f"{rel} imports {imp}"


# The one declared exception: the chapter on evaluation scores the models other chapters train, by their own calls
# (so that the run cache, keyed by the call, holds them already), instead of training weaker copies of them.
CHAPTER_IMPORTS = {"fid": {"dcgan", "wgan_gp", "hinge_sn"}}


def test_chapter_modules_do_not_import_each_other():
    names = {p.stem for p in (PACKAGE / "experiments").glob("*.py")}
    for path in (PACKAGE / "experiments").glob("*.py"):
        allowed = CHAPTER_IMPORTS.get(path.stem, set())
        for imp in _imports(path):
            module, _, what = imp.partition(":")
            if module.startswith(".") and not module.startswith(".."):
                assert not (set(module.strip(".").split(".")) | set(what.split(","))) & names - allowed, \
                    f"experiments/{path.name} imports {imp}"


def test_image_grid_tiles_in_order():
    images = torch.stack([torch.full((1, 2, 2), v) for v in (-1.0, 1.0, 0.0)])  # three 2x2 digits
    grid = plots.image_grid(images, nrow=2, pad=1)
    assert grid.shape == (1 + 2 * 3, 1 + 2 * 3)
    assert grid[1:3, 1:3].eq(0).all() and grid[1:3, 4:6].eq(1).all() and grid[4:6, 1:3].eq(0.5).all()
    assert grid[0].eq(1).all()  # white padding
    with pytest.raises(ValueError, match="images"):
        plots.image_grid(torch.zeros(3, 28, 28))


def test_square_grid_shapes():
    pts = data.square_grid(2.0, 3)
    assert pts.shape == (9, 2) and pts[0].tolist() == [-2.0, -2.0] and pts[1].tolist() == [0.0, -2.0]
    per = data.square_grid([1.0, 3.0], 3)
    assert per.shape == (9, 2, 2) and per[0, 1].tolist() == [-3.0, -3.0]
    with pytest.raises(ValueError, match="resolution"):
        data.square_grid(1.0, 1)


# -- d_steps: at most two calls from a notebook to the trainer ------------------------------------------------
# A static call graph of gan_lessons (calls by name, by module attribute, by class attribute and through self).
# A chain starts at a call a notebook cell makes and ends at train.train_gan or train.GANTrainer, whose fit loop
# (GANTrainer._one_step) reads config.d_steps: "notebook -> chapter.study -> train_gan" is 2 calls.
TRAINER = {("gan_lessons.train", "train_gan"), ("gan_lessons.train", "GANTrainer")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class _Module:
    def __init__(self, path: Path, modules: set[str]) -> None:
        self.name, tree = _module_name(path), ast.parse(path.read_text())
        package = self.name if path.name == "__init__.py" else self.name.rpartition(".")[0]
        self.aliases, self.names, self.defs = {}, {}, {}  # local -> module; local -> (module, name); qualname -> node
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("gan_lessons")):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                source = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
                for a in node.names:
                    target = f"{source}.{a.name}"
                    if target in modules:
                        self.aliases[a.asname or a.name] = target
                    else:
                        self.names[a.asname or a.name] = (source, a.name)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
                for sub in getattr(node, "body", []) if isinstance(node, ast.ClassDef) else []:
                    if isinstance(sub, ast.FunctionDef):
                        self.defs[f"{node.name}.{sub.name}"] = sub


def _graph() -> dict[str, _Module]:
    paths = list(PACKAGE.rglob("*.py"))
    names = {_module_name(p) for p in paths}
    return {m.name: m for m in (_Module(p, names) for p in paths)}


def _defined(graph, module: str, name: str) -> tuple[str, str] | None:
    """Where ``module.name`` is defined, following re-exports; None outside the package."""
    for _ in range(5):
        m = graph.get(module)
        if m is None:
            return None
        if name in m.defs:
            return module, name
        if name not in m.names:
            return None
        module, name = m.names[name]
    return None


def _calls(graph, nodes, m: _Module, qual: str = "") -> set[tuple[str, str]]:
    found = set()
    for n in (c for node in nodes for c in ast.walk(node) if isinstance(c, ast.Call)):
        f, target = n.func, None
        if isinstance(f, ast.Name):
            target = (m.name, f.id) if f.id in m.defs else _defined(graph, *m.names[f.id]) if f.id in m.names \
                else None
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            v = f.value.id
            if v in m.aliases:
                target = _defined(graph, m.aliases[v], f.attr)
            elif v in m.defs or (v == "self" and "." in qual):
                owner = v if v != "self" else qual.partition(".")[0]
                target = (m.name, f"{owner}.{f.attr}") if f"{owner}.{f.attr}" in m.defs else None
        if target is not None:
            found.add(target)
    return found


def _callees(graph, module: str, qual: str) -> set[tuple[str, str]]:
    m, node = graph[module], graph[module].defs[qual]
    if isinstance(node, ast.ClassDef):  # constructing a class runs its __init__
        node = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
        qual = f"{qual}.__init__"
    return set() if node is None else _calls(graph, node.body, m, qual)


def _chains(graph, start, path=()):
    path += (start,)
    if start in TRAINER:
        yield path
        return
    for callee in _callees(graph, *start):
        if callee not in path:
            yield from _chains(graph, callee, path)


def _notebook_calls(graph, notebook: Path) -> set[tuple[str, str]]:
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    source = "\n".join(line for c in cells if c.cell_type == "code" for line in c.source.splitlines()
                       if not line.lstrip().startswith(("%", "!")))
    tree = ast.parse(source)
    cell = _Module.__new__(_Module)
    cell.name, cell.aliases, cell.names, cell.defs = "<notebook>", {}, {}, {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gan_lessons"):
            for a in node.names:
                target = f"{node.module}.{a.name}"
                if target in graph:
                    cell.aliases[a.asname or a.name] = target
                else:
                    cell.names[a.asname or a.name] = (node.module, a.name)
    return _calls(graph, [tree], cell)


# Functions that only hand over to other chapters' own training functions (CHAPTER_IMPORTS): a chain through one is
# measured from the chapter function it hands over to.
DELEGATES = {("gan_lessons.experiments.fid", "train_models")}


def test_every_notebook_reaches_the_trainer_in_two_calls():
    graph = _graph()
    reached = set()
    for notebook in sorted(PACKAGE.parent.glob("book/*.ipynb")):
        for start in _notebook_calls(graph, notebook):
            for chain in _chains(graph, start):
                if chain[0] in DELEGATES:
                    assert chain[1][0].rpartition(".")[2] in CHAPTER_IMPORTS[chain[0][0].rpartition(".")[2]]
                    chain = chain[1:]
                hops = " -> ".join(f"{m.rpartition('.')[2]}.{q}" for m, q in chain)
                assert len(chain) <= 2, f"{notebook.name}: {hops} ({len(chain)} calls to the trainer; at most 2)"
                modules = [m for m, _ in chain]
                assert len(set(modules)) == len(modules), f"{notebook.name}: {hops} visits a module twice"
                reached.add(notebook.name)
    assert len(reached) >= 9  # every training chapter's path was found (the analysis is not blind)


def test_the_call_graph_sees_a_three_call_chain():
    """The analysis itself: a chapter-like chain of three calls to the trainer is found and measured."""
    graph = _graph()
    assert ("gan_lessons.train", "train_gan") in _callees(graph, "gan_lessons.collapse", "train_method")
    three = list(_chains(graph, ("gan_lessons.experiments.optimal_d", "run")))
    assert max(map(len, three)) == 4  # a cell calling run: run -> _train -> train_discriminator -> train_gan


def _function_lengths() -> dict[str, int]:
    """Lines of every function's body (docstring left out) in gan_lessons."""
    lengths = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if isinstance(node.body[0], ast.Expr) and \
                    isinstance(getattr(node.body[0], "value", None), ast.Constant) else node.body
                if body:
                    lengths[f"{path.relative_to(PACKAGE)}:{node.lineno}:{node.name}"] = \
                        body[-1].end_lineno - body[0].lineno + 1
    return lengths


def test_functions_stay_short_and_the_trainer_modules_small():
    import statistics

    lengths = _function_lengths()
    assert len(lengths) > 300
    assert statistics.median(lengths.values()) <= 10
    longest = max(lengths, key=lengths.get)
    assert lengths[longest] <= 40, f"{longest} has {lengths[longest]} lines (at most 40)"
    for name in ("train", "config", "objectives", "checkpoints", "runcache", "averaging"):  # train.py, split
        lines = len((PACKAGE / f"{name}.py").read_text().splitlines())
        assert lines < 300, f"gan_lessons/{name}.py has {lines} lines (under 300)"
