"""A submission folder is read as data: only the expected regular files, nothing followed or copied."""

from __future__ import annotations

import os
import stat

import pytest

from course_utils.grading.ingest import BadSubmission, read_submission


@pytest.fixture
def folder(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("instructor only")
    sub = tmp_path / "submitted" / "mallory" / "01_probability"
    sub.mkdir(parents=True)
    (sub / "probability.ipynb").write_text('{"cells": []}')
    (sub / "timestamp.txt").write_text("2026-11-20 12:00:00 UTC")
    (sub / "notes.ipynb").symlink_to(secret)
    (sub / "shadow.txt").symlink_to("/etc/shadow")
    os.mkfifo(sub / "pipe.ipynb")
    helper = sub / "helper.bin"
    helper.write_bytes(b"\x7fELF")
    helper.chmod(0o4755)  # set-uid: must never become a root-owned copy
    (sub / "numpy.py").write_text("raise SystemExit")
    (sub / "other.ipynb").mkdir()
    return sub


def test_only_regular_notebooks_are_read_and_everything_else_is_named(folder):
    found = read_submission(folder)
    assert found.notebooks == {"probability.ipynb": b'{"cells": []}'}
    assert found.not_files == {"notes.ipynb": "a symbolic link", "pipe.ipynb": "a FIFO", "other.ipynb": "a folder"}
    text = " ".join(found.notes)
    for name in ("notes.ipynb", "shadow.txt", "pipe.ipynb", "helper.bin", "numpy.py", "other.ipynb"):
        assert repr(name) in text, name
    assert "timestamp.txt" not in text and "instructor only" not in text


def test_nothing_is_followed_or_copied(folder):
    before = {p.name: os.lstat(p).st_mode for p in folder.iterdir()}
    read_submission(folder)
    assert {p.name: os.lstat(p).st_mode for p in folder.iterdir()} == before
    assert stat.S_IMODE(os.lstat(folder / "helper.bin").st_mode) == 0o4755  # read as data, untouched


def test_a_submission_folder_that_is_a_link_is_refused(folder, tmp_path):
    link = tmp_path / "linked"
    link.symlink_to(folder)
    with pytest.raises(BadSubmission, match="symbolic link"):
        read_submission(link)
