"""nbgrader's exchange, for a course that hands out and collects through its LMS.

Students get ``make dist`` archives and hand in through the LMS (``make collect``), so nbgrader's
exchange carries nothing. The Formgrader still lists it on every page and, finding no writable
``/usr/local/share/nbgrader/exchange``, logs "Unwritable directory" and warns on its pages; a
folder inside the course (ignored by git, next to what ``make collect`` keeps) answers it.
"""

from __future__ import annotations

from pathlib import Path

EXCHANGE = Path("collected") / "exchange"


def course_exchange(config_file: str | Path) -> str:
    """``c.Exchange.root`` for the course whose ``nbgrader_config.py`` is ``config_file``: its
    ``collected/exchange/``, created when missing (nbgrader checks it exists and is writable)."""
    root = Path(config_file).resolve().parent / EXCHANGE
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # a read-only copy of the course: nbgrader then says which folder it could not use
    return str(root)
