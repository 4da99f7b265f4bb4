"""On the embedded SQLite default, a double submit is the documented no-op too."""

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

PAIRS = 6


def test_two_tabs_submitting_at_once_on_sqlite_store_one_answer(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.sqlite_race",
            str(tmp_path / "db.sqlite3"),
            str(tmp_path / "media"),
            str(PAIRS),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    # Both tabs move on to the next case; the second submit changed nothing.
    assert outcome["statuses"] == [[302, 302]] * PAIRS, result.stderr[-3000:]
    assert outcome["stored"] == [1] * PAIRS
