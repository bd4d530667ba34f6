"""Data-parallel training (gan_lessons.distributed): 2 CPU processes (gloo, torchrun) against one process.

The distributed runs happen in ONE torchrun launch (tests/ddp_scenarios.py, module-scoped fixture); every
subprocess has a timeout, so a hang fails the test instead of blocking CI.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from gan_lessons import data, distributed, models, train

HERE = Path(__file__).resolve().parent
TINY = ["--data", "random", "--width", "4", "--latent-dim", "8", "--batch-size", "64", "--quiet",
        "--threads", "1", "--exact"]
TIMEOUT = 240  # seconds for one torchrun launch on a busy 2-core machine (it takes ~20 s)


def _torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["GAN_LESSONS_PROGRESS"] = "0"
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           "--standalone", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    done = _torchrun(str(HERE / "ddp_scenarios.py"), str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    """One-process runs of the same CLI: 5 steps, 6 steps, and 6 steps resumed from other checkpoints."""
    return {"5": _one_process(tmp_path_factory.mktemp("single5"), "single", "--steps", "5"),
            "6": _one_process(tmp_path_factory.mktemp("single6"), "whole", "--steps", "6")}


def _one_process(tmp: Path, name: str, *argv: str, start_from: Path | None = None) -> dict:
    """The same CLI run in this process (no torchrun: the plain GANTrainer on the global batch)."""
    path = tmp / f"{name}.pt"
    if start_from is not None:
        shutil.copy(start_from, path)
    assert distributed.main(TINY + list(argv) + ["--checkpoint", str(path)]) == 0
    return torch.load(path, weights_only=True)


def _load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _relative_error(a: dict, b: dict) -> float:
    return distributed.weight_difference(a, b)


def test_weight_difference_by_hand():
    a = {"G": {"w": torch.tensor([3.0, 4.0]), "n": torch.tensor(2)}, "D": {"w": torch.ones(2)}}
    b = {"G": {"w": torch.tensor([3.0, 4.0]) * 1.1, "n": torch.tensor(5)}, "D": {"w": torch.ones(2)}}
    assert distributed.weight_difference(a, b) == pytest.approx(0.1 / 1.1)  # ||0.1 x|| / ||1.1 x||
    assert distributed.weight_difference(a, a) == 0.0
    with pytest.raises(ValueError, match="different"):
        distributed.weight_difference(a, {"G": {"v": torch.ones(2)}, "D": b["D"]})


def test_combine_batch_statistics_equals_the_statistics_of_the_whole_batch():
    g = torch.Generator().manual_seed(0)
    shards = [torch.randn(n, 3, generator=g) + i for i, n in enumerate((4, 7, 1))]
    mean, var = distributed.combine_batch_statistics(
        torch.tensor([len(s) for s in shards]), torch.stack([s.mean(0) for s in shards]),
        torch.stack([s.var(0, unbiased=False) for s in shards]))
    whole = torch.cat(shards)
    torch.testing.assert_close(mean, whole.mean(0))
    torch.testing.assert_close(var, whole.var(0, unbiased=False))
    with pytest.raises(ValueError, match="one count"):
        distributed.combine_batch_statistics(torch.tensor([1, 2]), torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="counts"):
        distributed.combine_batch_statistics(torch.ones(1, 1), torch.zeros(1, 2), torch.zeros(1, 2))


def test_launch_rejects_bad_input():
    with pytest.raises(ValueError, match="nproc"):
        distributed.launch(["--steps", "1"], nproc=0)
    with pytest.raises(TypeError, match="strings"):
        distributed.launch(["--steps", 1])


def test_two_processes_with_syncbn_equal_one_process_on_the_global_batch(runs, single):
    ddp, single = _load(runs / "sync.pt"), single["5"]
    assert ddp["step"] == single["step"] == 5
    assert ddp["config"] == single["config"]  # the checkpoint records the global batch (64)
    assert not any(k.startswith("module.") for k in ddp["G"])  # portable state dicts
    assert _relative_error(ddp, single) < 1e-5
    # the losses in the history are averaged over the processes: the one-process losses
    torch.testing.assert_close(torch.tensor(ddp["history"]["d_loss"]),
                               torch.tensor(single["history"]["d_loss"]), rtol=1e-5, atol=1e-6)


def test_without_syncbn_the_runs_differ(runs, single):
    single = single["5"]
    synced = _relative_error(_load(runs / "sync.pt"), single)
    unsynced = _relative_error(_load(runs / "nosync.pt"), single)
    assert unsynced > 1e-3 > 100 * synced, (unsynced, synced)  # per-shard statistics change the run


def test_a_two_process_run_checkpointed_at_step_3_and_resumed_equals_the_uninterrupted_run(runs, single, tmp_path):
    uninterrupted = single["6"]
    resumed = _load(runs / "resume.pt")  # 2 processes: steps 1-3, checkpoint, a new trainer: steps 4-6
    assert resumed["step"] == 6 and len(resumed["history"]["step"]) == 6  # the history continued
    assert _relative_error(resumed, uninterrupted) < 1e-5


def test_a_distributed_checkpoint_resumes_on_one_process(runs, single, tmp_path):
    uninterrupted = single["6"]
    resumed = _one_process(tmp_path, "continued", "--steps", "6", start_from=runs / "ddp_step3.pt")
    assert resumed["step"] == 6
    assert _relative_error(resumed, uninterrupted) < 1e-5


def test_a_one_process_checkpoint_resumes_on_two_processes(runs, single, tmp_path):
    uninterrupted = single["6"]
    resumed = _load(runs / "cross.pt")  # 1 process: steps 1-3; 2 processes: steps 4-6
    assert resumed["step"] == 6
    assert _relative_error(resumed, uninterrupted) < 1e-5


def test_a_dead_worker_makes_torchrun_exit_nonzero_without_hanging(tmp_path):
    start = time.monotonic()
    done = _torchrun("-m", "gan_lessons", "ddp", *TINY, "--steps", "50", "--crash-at", "2",
                     "--timeout", "30")
    assert done.returncode != 0
    assert "ChildFailedError" in done.stderr and "simulated crash at step 2" in done.stderr
    assert "Signal 9 (SIGKILL)" in done.stderr, done.stderr[-2000:]  # which process died, and how
    assert time.monotonic() - start < TIMEOUT


# --- the pieces, in one process ----------------------------------------------------------------------------

def test_sharded_sampler_splits_the_global_batch():
    sampler = data.TensorSampler(torch.arange(100.0).unsqueeze(1), torch.arange(100))
    whole = sampler(8, torch.Generator().manual_seed(3))
    shards = [distributed.ShardedSampler(sampler, r, 2)(4, torch.Generator().manual_seed(3)) for r in (0, 1)]
    torch.testing.assert_close(torch.cat([s[0] for s in shards]), whole[0])
    torch.testing.assert_close(torch.cat([s[1] for s in shards]), whole[1])
    noise = distributed.ShardedSampler(train.standard_normal_noise(3), 1, 2)
    torch.testing.assert_close(noise(2, torch.Generator().manual_seed(0)),
                               torch.randn(4, 3, generator=torch.Generator().manual_seed(0))[2:])


@pytest.mark.parametrize("args, error, match", [
    ((lambda n, rng: None, 2, 2), ValueError, "rank"),
    ((lambda n, rng: None, 0, 0), ValueError, "world_size"),
    (("not callable", 0, 1), TypeError, "function"),
])
def test_sharded_sampler_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        distributed.ShardedSampler(*args)


def test_cross_replica_batchnorm_is_batchnorm_in_one_process():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3)
    bn.weight.data.uniform_(0.5, 1.5)
    mine = distributed.sync_batchnorm(nn.Sequential(bn))[0]
    assert isinstance(mine, distributed.CrossReplicaBatchNorm)
    torch.testing.assert_close(mine.weight, bn.weight)
    x = torch.randn(5, 3, 4, 4)
    torch.testing.assert_close(mine(x), bn(x))  # train mode: batch statistics, running stats updated
    torch.testing.assert_close(mine.running_var, bn.running_var)
    mine.eval()
    torch.testing.assert_close(mine(x), bn.eval()(x))


def test_sync_batchnorm_converts_every_layer_of_the_dcgan():
    G = distributed.sync_batchnorm(models.DCGANGenerator(8, width=4))
    kinds = {type(m) for m in G.modules()}
    assert distributed.CrossReplicaBatchNorm in kinds and nn.BatchNorm2d not in kinds
    with pytest.raises(TypeError, match="Module"):
        distributed.sync_batchnorm("G")


def test_the_trainer_needs_a_process_group():
    G, D = models.DCGANGenerator(8, width=4), models.DCGANDiscriminator(width=4)
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.DistributedGANTrainer(G, D, data.TensorSampler(torch.zeros(4, 1, 28, 28)),
                                          train.TrainConfig(), latent_dim=8)
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.init_distributed()


def test_unwrap_and_rank_outside_a_group():
    net = nn.Linear(2, 2)
    assert distributed.unwrap(net) is net
    assert distributed.rank_and_world() == (0, 1)
    with pytest.raises(TypeError):
        distributed.unwrap("net")


def test_cli_rejects_bad_sizes(capsys):
    assert distributed.main(["--batch-size", "0", "--data", "random"]) == 2
    assert "batch-size" in capsys.readouterr().err


def test_the_ddp_verb_is_reached_through_the_main_cli(capsys):
    from gan_lessons import cli

    assert cli.main(["ddp", "--batch-size", "0", "--data", "random"]) == 2
    assert "batch-size" in capsys.readouterr().err
