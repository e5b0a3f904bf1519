"""Processes that share one SQLite gradebook wait for its lock instead of failing.

The grading command's workers, its own process and the Formgrader write the same SQLite file;
SQLite gives up on a locked database after Python's default 5 s, which a busy machine exceeds.
nbgrader opens its engines itself (``create_engine(db_url)`` in ``Gradebook``) and takes no
connection arguments, so the wait is given where SQLAlchemy connects: to the databases named by
:func:`wait_for_locks` only, never to another engine of the process, and only once that is
called (importing the package changes nothing). PostgreSQL waits for its locks by itself.
"""

from __future__ import annotations

import os

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

LOCK_WAIT_SECONDS = 120.0
_GRADEBOOKS: set[str] = set()


def wait_for_locks(db_url: str) -> None:
    """Connections to the SQLite gradebook at ``db_url`` wait up to :data:`LOCK_WAIT_SECONDS`
    for a lock, in this process and the processes it forks. Other URLs are left as they are."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    _GRADEBOOKS.add(os.path.realpath(url.database))
    if not event.contains(Engine, "do_connect", _busy_timeout):
        event.listen(Engine, "do_connect", _busy_timeout)


def _busy_timeout(dialect, _record, cargs: list, cparams: dict) -> None:
    """SQLAlchemy's ``do_connect`` hook: pysqlite connects with ``sqlite3.connect(cargs[0],
    **cparams)``, whose ``timeout`` is SQLite's busy timeout."""
    if dialect.name == "sqlite" and cargs and os.path.realpath(str(cargs[0])) in _GRADEBOOKS:
        cparams.setdefault("timeout", LOCK_WAIT_SECONDS)
