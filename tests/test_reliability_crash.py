"""A laptop closed mid-index: `hkqa index` killed with SIGKILL at random points, then finished.

Each trial (seeded: the seed and the trial number fix the starting index and the kill times)
kills a real indexing process during model load, embedding and writing, or the final
refresh, sometimes twice in a row, then lets the next `hkqa index` finish and compares the
index with a clean build. scripts/crash_trials.py runs the same trials in any number.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.crash_trials import CrashLab, Trial, compare_states

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("HKQA_CRASH_SEED", "20200701"))
TRIALS = 20
_done: dict[int, Trial] = {}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashLab]:
    lab = CrashLab(tmp_path_factory.mktemp("crash"), articles=64, seed=SEED)
    lab.prepare()
    yield lab


def test_updating_an_older_index_equals_a_clean_build(lab: CrashLab) -> None:
    # prepare() already checked it; this names the property and guards the reference.
    assert len(lab.reference["docs"]) >= 65
    assert len(lab.reference["chunks"]) >= 300
    assert not lab.reference["problems"]
    assert any(len(group) > 1 for group in lab.reference["groups"])


@pytest.mark.parametrize("number", range(TRIALS))
def test_killed_index_run_is_finished_by_the_next_one(lab: CrashLab, number: int) -> None:
    trial = lab.trial(number)
    _done[number] = trial
    assert not trial.diffs, f"seed {SEED}, {trial.describe()}\n" + "\n".join(trial.diffs)


def test_the_kills_landed_in_every_phase(lab: CrashLab) -> None:
    if len(_done) < TRIALS:
        pytest.skip("runs after the full set of trials only")
    landed: dict[str, int] = {}
    for trial in _done.values():
        for (phase, _), run in zip(trial.kills, trial.runs, strict=False):
            if run.killed_at is not None:
                landed[phase] = landed.get(phase, 0) + 1
    kills = sum(len(t.kills) for t in _done.values())
    assert sum(landed.values()) >= 0.75 * kills, landed
    assert all(landed.get(phase, 0) >= 3 for phase in ("load", "write", "refresh")), landed


def test_killing_the_hkqa_command_itself(lab: CrashLab, tmp_path: Path) -> None:
    """The console script, interpreter start-up and all, killed once it has begun writing."""
    index_dir = tmp_path / "idx"
    rng = random.Random(SEED)
    proc = subprocess.Popen(
        ["hkqa", *lab.argv(index_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    sqlite = index_dir / "chroma" / "chroma.sqlite3"
    deadline = time.monotonic() + 120
    while not sqlite.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, lab.phase_times["empty"]["refresh"] / 2))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    finished = lab.runner.run(lab.argv(index_dir))
    assert finished.code == 0, finished.err
    assert compare_states(lab.runner.state(index_dir), lab.reference) == []
