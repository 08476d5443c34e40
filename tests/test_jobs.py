"""'All cores' is loky's count (joblib's) (cgroup CPU quotas respected); train --jobs reaches the augmentation."""

from __future__ import annotations

import os

import pytest
from loky.backend import context

import batchdigits.learn.train as train_module
from batchdigits.io.concurrency import default_jobs
from helpers import run_cli


def test_all_cores_respects_a_cgroup_cpu_quota(monkeypatch):
    """A container limited to one CPU (cpu.max "100000 100000") on a machine with more cores."""
    monkeypatch.delenv("LOKY_MAX_CPU_COUNT", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(context, "_cpu_count_cgroup", lambda os_cpu_count: 1)
    assert default_jobs() == 1  # before: len(os.sched_getaffinity(0)) = 4
    monkeypatch.setattr(context, "_cpu_count_cgroup", lambda os_cpu_count: os_cpu_count)
    assert default_jobs() == 4


class _Stop(Exception):
    pass


@pytest.mark.parametrize(("option", "expected"), [("1", 1), ("3", 3), ("0", "all")])
def test_train_jobs_reaches_the_augmentation(tmp_path, monkeypatch, option, expected):
    seen: list[int] = []

    def recording(X, seed=0, jobs=-1, y=None):
        seen.append(jobs)
        raise _Stop  # the rest of training is not what this test is about

    monkeypatch.setattr(train_module, "distorted_parallel", recording)
    monkeypatch.setattr(train_module, "default_jobs", lambda: 7)
    with pytest.raises(_Stop):
        run_cli("train", "--out", tmp_path / "m.skops", "--jobs", option, "--debug")
    assert seen == [7 if expected == "all" else expected]  # before: always joblib's -1, all cores
