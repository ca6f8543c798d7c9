"""Training on several processes with DistributedDataParallel: gloo on CPU, NCCL on GPU.

A process learns its place from the variables torchrun (and Kubeflow's training operator, which
runs torchrun in every pod) sets: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``. ``genomeflow train --nproc N`` starts N processes on this machine itself
(:func:`launch`), which meet through a file in a temporary folder instead of a port. Every
process holds the model and takes its share of each global batch, so ``--batch-size`` is the
global batch whatever the number of processes, and a checkpoint written by N processes resumes
on M. Only rank 0 writes: checkpoints, the model folder, MLflow records and standard output.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# A collective waits this long for the other processes (rank 0 scoring valid and writing a
# checkpoint while the others wait) before it fails, so a dead process cannot hang the rest.
COLLECTIVE_TIMEOUT = timedelta(minutes=60)
# --nproc: the processes meet through a file, not a port chosen ahead of time (a port probed
# free can be taken by any process on the machine before rank 0 binds it).
RENDEZVOUS_ENV = "GENOMEFLOW_RENDEZVOUS"
POLL_S = 0.2  # how often the launcher looks at its processes
GRACE_S = 10.0  # seconds the others get to exit on their own once one process has failed


@dataclass(frozen=True)
class Processes:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Processes:
        environ = os.environ
        return cls(
            int(environ.get("RANK", 0)),
            int(environ.get("WORLD_SIZE", 1)),
            int(environ.get("LOCAL_RANK", 0)),
        )

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def start(self, device: str) -> str:
        """Join the process group (once) and return this process's device: ``cuda:<local
        rank>`` on GPUs. On CPU each process takes its share of the cores."""
        if not self.distributed:
            return device
        import torch
        import torch.distributed as dist

        if device == "cuda":
            torch.cuda.set_device(self.local_rank)
        elif "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // self.world))
        if not dist.is_initialized():
            backend = "nccl" if device == "cuda" else "gloo"
            dist.init_process_group(
                backend,
                init_method=os.environ.get(RENDEZVOUS_ENV, "env://"),
                rank=self.rank,
                world_size=self.world,
                timeout=COLLECTIVE_TIMEOUT,
            )
        return f"cuda:{self.local_rank}" if device == "cuda" else device

    def wrap(self, model: Any, device: str) -> Any:
        """The model as this process trains it: DistributedDataParallel when there are several."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        if device.startswith("cuda"):
            import torch

            # Batch norm (the CNN) over the global batch, as one process computes it. gloo has no
            # such kernel: on CPU each process normalises over its own share of the batch.
            torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return DistributedDataParallel(model, device_ids=[self.local_rank])
        return DistributedDataParallel(model)

    def shard(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """This process's part of each global batch. A batch too small to give every process a
        row is left out by all of them (at most the last of an epoch), so all take equal steps."""
        if not self.distributed:
            return batches
        return [batch[self.rank :: self.world] for batch in batches if len(batch) >= self.world]

    def part(self, rows: Any) -> Any:
        """This process's rows of a global batch (a tensor or an array)."""
        return rows[self.rank :: self.world] if self.distributed else rows

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the processes (a train loss)."""
        return self.sums([value])[0] / self.world

    def total(self, value: float) -> float:
        """The sum of ``value`` over the processes (tokens seen)."""
        return self.sums([value])[0]

    def sums(self, values: Sequence[float]) -> list[float]:
        """Each of ``values`` summed over the processes, in one collective."""
        if not self.distributed:
            return list(values)
        import torch
        import torch.distributed as dist

        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def decide(self, flag: bool) -> bool:
        """Rank 0's ``flag``, on every process (rank 0 alone scores valid and decides)."""
        return self.sums([float(flag) if self.main else 0.0])[0] > 0

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def stop(self) -> None:
        """Leave the process group."""
        if self.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def launch(argv: Sequence[str], processes: int) -> int:
    """Run ``genomeflow ARGV`` as ``processes`` ranks on this machine; returns the exit code.

    Rank 0 talks to the terminal; the others' standard error is kept aside and shown only when
    one of them fails alone (an input error stops every rank, and rank 0 names it in one line).
    When a process fails the others are stopped, as they would wait in a collective until its
    timeout.
    """
    with contextlib.ExitStack() as stack:
        meeting = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="genomeflow-ddp-")))
        children, logs = [], []
        for rank in range(processes):
            environment = os.environ | {
                "RANK": str(rank),
                "LOCAL_RANK": str(rank),
                "WORLD_SIZE": str(processes),
                "LOCAL_WORLD_SIZE": str(processes),
                RENDEZVOUS_ENV: f"file://{meeting / 'rendezvous'}",
            }
            errors = stack.enter_context(tempfile.TemporaryFile("w+")) if rank else None
            if rank:
                environment["TQDM_DISABLE"] = "1"  # one progress bar: rank 0's
            logs.append(errors)
            command = [sys.executable, "-m", "genomeflow.cli", *argv]
            children.append(subprocess.Popen(command, env=environment, stderr=errors))
        try:
            # Until a process fails, or rank 0 (which writes everything) is done, or all are.
            while (
                all(child.poll() in (None, 0) for child in children) and children[0].poll() is None
            ):
                time.sleep(POLL_S)
            # The others usually fail the same check, or exit, a moment later; rank 0's words
            # are the ones to show, so they get a little time to finish before they are stopped.
            deadline = time.monotonic() + GRACE_S
            while any(child.poll() is None for child in children) and time.monotonic() < deadline:
                time.sleep(POLL_S)
        finally:
            lingering = [rank for rank, child in enumerate(children) if child.poll() is None]
            for rank in lingering:
                children[rank].terminate()
            for child in children:
                child.wait()
        codes = [_exit_code(child.returncode) for child in children]
        if codes[0] == 0 and lingering:
            # Seen rarely on 2 busy CPU cores: a rank that had trained its share did not exit
            # after rank 0 published the output. The work is done; say so and finish.
            log.warning(
                "training process(es) %s had not exited %.0f s after rank 0 finished; stopped",
                ", ".join(map(str, lingering)),
                GRACE_S,
            )
        if codes[0] not in (0, _exit_code(-signal.SIGTERM)):  # rank 0 said what went wrong
            return codes[0]
        for code, errors in zip(codes[1:], logs[1:], strict=True):
            if code and code != _exit_code(-signal.SIGTERM):
                errors.seek(0)
                said = [line for line in errors if line.startswith("genomeflow:")]
                print(
                    (said or [f"genomeflow: error: a training process exited with {code}"])[
                        -1
                    ].rstrip(),
                    file=sys.stderr,
                )
                return code
        return 0 if codes[0] == 0 else max(codes)


def _exit_code(returncode: int) -> int:
    """A process's exit status as a shell gives it (128 + N for signal N)."""
    return returncode if returncode >= 0 else 128 - returncode
