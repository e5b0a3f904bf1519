"""A SQLite gradebook shared by processes: connections to it wait for its lock, and no other
engine of the process is touched (course_utils.grading.sqlite_wait)."""

from __future__ import annotations

from nbgrader.api import Gradebook
from sqlalchemy import create_engine

import course_utils.grading.grade  # noqa: F401  (importing the grading package registers nothing)
from course_utils.grading.sqlite_wait import LOCK_WAIT_SECONDS, wait_for_locks

SQLITE_DEFAULT_MS = 5000


def _busy_ms(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    finally:
        engine.dispose()


def test_only_the_gradebooks_named_wait_for_their_lock(tmp_path):
    book, other = f"sqlite:///{tmp_path / 'gradebook.db'}", f"sqlite:///{tmp_path / 'other.db'}"
    assert (_busy_ms(book), _busy_ms(other)) == (SQLITE_DEFAULT_MS, SQLITE_DEFAULT_MS)
    wait_for_locks(book)
    wait_for_locks(book)  # once is enough; twice changes nothing
    wait_for_locks("postgresql://grader@db.example/gradebook")  # waits by itself: nothing to do
    assert (_busy_ms(book), _busy_ms(other)) == (LOCK_WAIT_SECONDS * 1000, SQLITE_DEFAULT_MS)
    # nbgrader's own Gradebook makes its engine itself: its connections wait too
    with Gradebook(f"sqlite:///{tmp_path}/./gradebook.db") as gb:
        assert gb.db.connection().exec_driver_sql("PRAGMA busy_timeout").scalar() == LOCK_WAIT_SECONDS * 1000
