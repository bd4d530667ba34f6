"""Launched by tests/test_distributed.py under torchrun (2 processes, gloo): the distributed runs it compares
with one-process runs. One process group for all runs, so the launch cost is paid once.

usage: torchrun --standalone --nproc_per_node=2 tests/ddp_scenarios.py OUT_DIR
"""
import os
import shutil
import sys

import torch.distributed as dist

from gan_lessons import distributed

TINY = ["--data", "random", "--width", "4", "--latent-dim", "8", "--batch-size", "64", "--quiet",
        "--threads", "1", "--exact"]


def run(out: str, name: str, steps: int, *extra: str) -> None:
    distributed.main(TINY + ["--steps", str(steps), *extra, "--checkpoint", f"{out}/{name}.pt"])


def main(out: str) -> None:
    rank, _ = distributed.init_distributed("gloo", timeout_s=60)
    run(out, "sync", 5)  # SyncBN (CrossReplicaBatchNorm on CPUs)
    run(out, "nosync", 5, "--no-sync-bn")  # per-process batch statistics
    run(out, "resume", 3)  # 2 processes: checkpoint at step 3 ...
    if rank == 0:
        shutil.copy(f"{out}/resume.pt", f"{out}/ddp_step3.pt")  # (kept for a one-process resume)
    dist.barrier()
    run(out, "resume", 6)  # ... resumed to step 6 by a new trainer
    if rank == 0:  # a ONE-process run to step 3 (no RANK in the environment: the plain trainer) ...
        saved = os.environ.pop("RANK")
        run(out, "cross", 3)
        os.environ["RANK"] = saved
    dist.barrier()
    run(out, "cross", 6)  # ... resumed on 2 processes


if __name__ == "__main__":
    main(sys.argv[1])
