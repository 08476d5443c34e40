"""``classify --backend dask``: the same CSV from a real dask.distributed cluster."""

from __future__ import annotations

import pytest

from helpers import one_line_error, read_csv, run_cli, run_script
from imagemaker import save_digit, write_truncated

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        yield cluster
    finally:
        cluster.close()


def make_folder(folder):
    for i in range(40):  # more than one chunk of work
        save_digit(folder / f"{i:03d}.png", "one" if i % 3 else "zero")
    save_digit(folder / "sub" / "blank.gif", "blank")
    save_digit(folder / "sub" / "rgb.jpg", "zero", "RGB")
    (folder / "sub" / "not-an-image.png").write_bytes(b"hello, not a png")
    (folder / "empty.jpg").write_bytes(b"")
    write_truncated(folder / "truncated.png")
    (folder / "dangling.png").symlink_to(folder / "no-such-target.png")
    (folder / "notes.txt").write_text("skipped")
    return folder


def test_dask_backend_gives_the_same_csv_as_a_local_run(tmp_path, cluster):
    folder = make_folder(tmp_path / "in")
    dask_csv = tmp_path / "dask.csv"
    local_csv = tmp_path / "local.csv"

    proc = run_script(
        "classify", folder, "--backend", "dask", "--scheduler", cluster.scheduler_address,
        "--out", dask_csv,
    )
    local = run_cli("classify", folder, "--jobs", "1", "--out", local_csv)

    assert local.exit_code == 1, local.stderr
    assert proc.returncode == 1, proc.stderr  # error rows, not a crash
    assert "Traceback" not in proc.stderr
    # the work really ran on the cluster
    assert any("read_chunk" in name for name in cluster.scheduler.task_prefixes)
    assert dask_csv.read_bytes() == local_csv.read_bytes()
    rows = {r["path"]: r for r in read_csv(dask_csv)}
    assert len(rows) == 46
    errors = {p for p, r in rows.items() if r["status"] == "error"}
    assert errors == {"dangling.png", "empty.jpg", "sub/not-an-image.png", "truncated.png"}
    assert rows["dangling.png"]["error"] == "broken symbolic link"
    assert rows["sub/blank.gif"]["status"] == "blank"


def test_dask_backend_with_a_relative_folder(tmp_path, cluster):
    """The workers' working directory is not the command's: they must get absolute paths."""
    folder = make_folder(tmp_path / "in")
    reference = tmp_path / "local.csv"
    run_cli("classify", folder, "--jobs", "1", "--out", reference)

    proc = run_script(
        "classify", "in", "--backend", "dask", "--scheduler", cluster.scheduler_address,
        "--out", "dask.csv", cwd=tmp_path,
    )

    assert proc.returncode == 1, proc.stderr
    assert (tmp_path / "dask.csv").read_bytes() == reference.read_bytes()


def test_scheduler_without_the_dask_backend_is_a_usage_error(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--scheduler", "tcp://127.0.0.1:8786", "--out", out)

    assert result.exit_code == 2
    assert "--scheduler needs --backend dask" in one_line_error(result.stderr)
    assert not out.exists()


def test_unknown_backend_is_a_usage_error(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")

    result = run_script("classify", folder, "--backend", "spark", "--out", tmp_path / "out.csv")

    assert result.returncode == 2
    line = one_line_error(result.stderr)  # the choices are an Enum: click names them
    assert "'spark' is not one of" in line and "loky" in line and "dask" in line


def test_a_dask_worker_that_dies_costs_one_error_row_and_the_run_goes_on(tmp_path):
    """A cluster worker converting ``poison.png`` kills itself with SIGKILL every time
    (as the OOM killer would): the scheduler gives up on the task (``KilledWorker``),
    the chunks in flight are redone file by file, and only that file is an error row."""
    dask = pytest.importorskip("dask")
    folder = make_folder(tmp_path / "in")
    poison = "poison.png"
    save_digit(folder / poison, "one")
    local_csv = tmp_path / "local.csv"
    run_cli("classify", folder, "--jobs", "1", "--out", local_csv)
    expected = {r["path"]: r for r in read_csv(local_csv)}
    dask_csv = tmp_path / "dask.csv"
    # a task whose worker died once is not retried: a death costs seconds, not minutes
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=":0", env={"BATCHDIGITS_TEST_CRASH_ON": poison},
        ) as cluster:
            proc = run_script(
                "classify", folder, "--backend", "dask", "--scheduler", cluster.scheduler_address,
                "--out", dask_csv, timeout=240,
            )

    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    rows = {r["path"]: r for r in read_csv(dask_csv)}
    assert rows.keys() == expected.keys()
    assert (rows[poison]["status"], rows[poison]["error"]) == ("error", "worker died while decoding")
    for path, row in rows.items():
        if path != poison:
            assert row == expected[path]
