"""Decision-log durability (issue 37, finding 7): a worker killed with SIGKILL while its store
cannot be written loses the rows queued in memory, unless they were journaled; the next worker to
start replays them into the log (once: ids already logged are ignored)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from serving.decision_log import COLUMNS, DecisionLog, read_log

CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from sqlalchemy.exc import OperationalError
    from serving.decision_log import COLUMNS, DecisionLog

    log = DecisionLog(sys.argv[1]).start()
    def down(rows):  # the store stops answering (PostgreSQL down)
        raise OperationalError("INSERT", {}, Exception("connection refused"))
    log._insert = down
    for i in range(5):
        log.append([tuple(f"d{i}-{j}" if c == "decision_id" else None for c in COLUMNS) for j in range(10)])
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _row(decision_id: str) -> tuple:
    return tuple(decision_id if c == "decision_id" else None for c in COLUMNS)


def test_a_killed_worker_loses_no_answered_decision(tmp_path: Path) -> None:
    target = tmp_path / "decisions.sqlite"
    root = Path(__file__).resolve().parents[3]
    killed = subprocess.run([sys.executable, "-c", CHILD, str(target)], cwd=root, env={**os.environ})
    assert killed.returncode == -9
    log = DecisionLog(target).start()  # the next worker
    log.close()
    assert log.replayed == 50 and len(read_log(target)) == 50  # before: 0, all lost
    assert not list((tmp_path / "journal").glob("*.jsonl"))  # replayed, then deleted


def test_a_journal_is_emptied_once_written_and_removed_on_a_clean_stop(tmp_path: Path) -> None:
    target = tmp_path / "decisions.sqlite"
    log = DecisionLog(target).start()
    log.append([_row("a"), _row("b")])
    log.close()
    assert len(read_log(target)) == 2 and not list((tmp_path / "journal").glob("*.jsonl"))
    again = DecisionLog(target).start()
    again.close()
    assert again.replayed == 0 and len(read_log(target)) == 2
