"""course_utils.data: finding, fetching and checking names.txt, the vocabulary and n-grams."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import threading
from pathlib import Path

import pytest

from course_utils import data

SMALL = "emma\nolivia\nava\n"


@pytest.fixture
def small_names(tmp_path, monkeypatch):
    """A tiny names file that the module accepts as the real one (its checksum is expected)."""
    path = tmp_path / "small.txt"
    path.write_text(SMALL)
    monkeypatch.setattr(data, "NAMES_SHA256", hashlib.sha256(SMALL.encode()).hexdigest())
    monkeypatch.delenv(data.NAMES_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DATA_DIR", tmp_path / "data")
    return path


@pytest.fixture
def server(tmp_path):
    """A local HTTP server that serves tmp_path/www; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_explicit_path_is_used_first(small_names, monkeypatch, tmp_path):
    monkeypatch.setenv(data.NAMES_ENV_VAR, str(tmp_path / "elsewhere.txt"))
    assert data.names_path(small_names) == small_names
    assert data.load_names(small_names) == ["emma", "olivia", "ava"]


def test_environment_variable_comes_before_the_data_folder(small_names, monkeypatch):
    data.DATA_DIR.mkdir()
    (data.DATA_DIR / "names.txt").write_text("not the names\n")
    monkeypatch.setenv(data.NAMES_ENV_VAR, str(small_names))
    assert data.names_path() == small_names


def test_data_folder_is_used_without_downloading(small_names, monkeypatch):
    data.DATA_DIR.mkdir()
    cached = data.DATA_DIR / "names.txt"
    cached.write_text(SMALL)
    monkeypatch.setattr(data, "NAMES_URL", "http://127.0.0.1:9/never-asked")
    assert data.names_path() == cached


def test_missing_file_is_downloaded_verified_and_cached(small_names, server):
    www, url = server
    (www / "names.txt").write_text(SMALL)
    path = data.download_names(url=f"{url}/names.txt")
    assert path == data.DATA_DIR / "names.txt"
    assert data.load_names() == ["emma", "olivia", "ava"]
    assert list(data.DATA_DIR.iterdir()) == [path]  # no partial files left behind


def test_names_path_fetches_when_nothing_is_there(small_names, server, monkeypatch):
    www, url = server
    (www / "names.txt").write_text(SMALL)
    monkeypatch.setattr(data, "NAMES_URL", f"{url}/names.txt")
    assert data.names_path() == data.DATA_DIR / "names.txt"


def test_corrupted_download_is_refused_and_nothing_is_saved(small_names, server):
    www, url = server
    (www / "names.txt").write_text("emma\nolivia\n")
    with pytest.raises(data.NamesDataError, match="SHA-256.*nothing was saved"):
        data.download_names(url=f"{url}/names.txt")
    assert not data.DATA_DIR.exists() or list(data.DATA_DIR.iterdir()) == []


def test_offline_error_says_how_to_fix_it(small_names):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(data.NamesDataError) as err:
        data.download_names(url=f"http://127.0.0.1:{port}/names.txt", timeout=5)
    assert data.NAMES_ENV_VAR in str(err.value) and "make data" in str(err.value)


def test_checksum_mismatch_names_the_file_and_the_fix(small_names, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("bob\n")
    with pytest.raises(data.NamesDataError) as err:
        data.names_path(bad)
    assert str(bad) in str(err.value) and "make data" in str(err.value)


def test_missing_file_from_environment_variable(small_names, monkeypatch, tmp_path):
    monkeypatch.setenv(data.NAMES_ENV_VAR, str(tmp_path / "gone.txt"))
    with pytest.raises(data.NamesDataError, match=f"unset {data.NAMES_ENV_VAR}"):
        data.names_path()


def test_no_download_when_told_not_to(small_names):
    with pytest.raises(data.NamesDataError, match="make data"):
        data.names_path(download=False)


def test_vocabulary_puts_the_boundary_token_first():
    stoi, itos = data.build_vocab()
    assert len(stoi) == 27 and stoi["."] == 0 and stoi["a"] == 1 and stoi["z"] == 26
    assert all(itos[i] == ch for ch, i in stoi.items())


def test_ngrams_pad_with_the_boundary_token():
    assert data.ngrams(["ab"], 2) == [(".", "a"), ("a", "b"), ("b", ".")]
    assert data.ngrams(["ab"], 3) == [(".", ".", "a"), (".", "a", "b"), ("a", "b", ".")]
    assert data.ngrams(["ab", "c"], 1) == [("a",), ("b",), (".",), ("c",), (".",)]
    with pytest.raises(ValueError):
        data.ngrams(["ab"], 0)


def test_ngram_indices_map_through_the_vocabulary():
    contexts, targets = data.ngram_indices(["ab"], 3)
    assert contexts == [(0, 0), (0, 1), (1, 2)] and targets == [1, 2, 0]
    with pytest.raises(ValueError, match="'A'"):
        data.ngram_indices(["Ab"])


def test_real_names_file(names_file):
    names = data.load_names(names_file)
    assert len(names) == 32033
    assert min(map(len, names)) == 2 and max(map(len, names)) == 15
    assert len(data.ngrams(names, 2)) == 228146 == len(data.ngrams(names, 3))


def test_split_is_the_seeded_shuffle(names_file):
    import random

    names = data.load_names(names_file)
    train, dev, test = data.split_words(names)
    assert (len(train), len(dev), len(test)) == (25626, 3203, 3204)
    expected = list(names)
    random.seed(42)
    random.shuffle(expected)
    assert train + dev + test == expected
    assert names == data.load_names(names_file)  # the input list is not shuffled in place
    assert Path(names_file).is_file()


def test_make_data_copies_the_file_named_by_the_variable_into_the_data_folder(small_names, monkeypatch, capsys):
    monkeypatch.setenv(data.NAMES_ENV_VAR, str(small_names))
    assert data.main() == 0
    copy = data.DATA_DIR / "names.txt"
    assert copy.read_text() == SMALL
    out = capsys.readouterr().out
    assert f"names.txt is ready: {copy}" in out and "3 names" in out
    assert f"copied from {data.NAMES_ENV_VAR}={small_names}" in out and str(data.DATA_DIR) in out
    # a new shell, without the variable, finds the copy
    monkeypatch.delenv(data.NAMES_ENV_VAR)
    assert data.names_path(download=False) == copy and data.load_names() == ["emma", "olivia", "ava"]


def test_install_replaces_a_wrong_file_and_leaves_a_right_one(small_names):
    dest = data.DATA_DIR / "names.txt"
    dest.parent.mkdir()
    dest.write_text("not the names\n")
    assert data.install_names(small_names) == dest and dest.read_text() == SMALL
    before = dest.stat().st_mtime_ns
    assert data.install_names(small_names) == dest and dest.stat().st_mtime_ns == before
    assert data.install_names(dest) == dest  # the file itself


def test_install_refuses_an_unverified_file_and_writes_nothing(small_names, tmp_path, monkeypatch, capsys):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("bob\n")
    with pytest.raises(data.NamesDataError, match="SHA-256"):
        data.install_names(wrong)
    monkeypatch.setenv(data.NAMES_ENV_VAR, str(wrong))
    assert data.main() == 1 and "SHA-256" in capsys.readouterr().out
    assert not data.DATA_DIR.exists() or not any(data.DATA_DIR.iterdir())


# ---- make data leaves a file every user can read (the grading sandbox runs as another user) ----

def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def strict_umask():
    """An instructor's umask that gives others nothing: the mode must not depend on it."""
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_make_data_copy_from_the_variable_is_readable_by_everyone(small_names, monkeypatch, strict_umask):
    os.chmod(small_names, 0o600)  # the file the variable names may be private; the copy is not
    monkeypatch.setenv(data.NAMES_ENV_VAR, str(small_names))
    assert data.main() == 0
    assert _mode(data.DATA_DIR / "names.txt") == 0o644


def test_make_data_download_is_readable_by_everyone(small_names, monkeypatch, strict_umask):
    class Response(io.BytesIO):  # what urlopen gives, without a network
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    asked = []
    monkeypatch.setattr(data.urllib.request, "urlopen",
                        lambda url, timeout: asked.append(url) or Response(SMALL.encode()))
    assert data.main() == 0
    assert asked == [data.NAMES_URL]
    assert _mode(data.DATA_DIR / "names.txt") == 0o644
    assert list(data.DATA_DIR.iterdir()) == [data.DATA_DIR / "names.txt"]


def test_make_data_mends_a_private_copy_it_made_before(small_names, monkeypatch, capsys):
    data.DATA_DIR.mkdir()
    cached = data.DATA_DIR / "names.txt"
    cached.write_text(SMALL)
    os.chmod(cached, 0o600)  # as the old make data left it
    assert data.main() == 0
    assert _mode(cached) == 0o644 and cached.read_text() == SMALL
    os.chmod(cached, 0o600)
    monkeypatch.setenv(data.NAMES_ENV_VAR, str(small_names))  # the copy path mends it too
    assert data.main() == 0
    assert _mode(cached) == 0o644
