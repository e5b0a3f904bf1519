"""The names data set, its vocabulary and the n-gram pairs built from it.

Where the names come from, in this order:

1. a path passed to :func:`names_path` / :func:`load_names`;
2. the file named by the environment variable ``COURSE_NAMES_FILE``;
3. ``data/names.txt`` in the course folder, downloaded there on first use from
   the makemore repository and checked against its SHA-256.

Every way of failing ends in a :class:`NamesDataError` whose message says what
happened and the one command that fixes it.

``make data`` (``python -m course_utils.data``) with ``COURSE_NAMES_FILE`` set copies
the verified file into ``data/names.txt``, so that later shells and kernels find it
without the variable (the checksum makes the copy as good as the original). The file it
leaves there is readable by every user (mode 0644, whatever the umask): the grading
sandbox runs each kernel as a user of its own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import COURSE_ROOT

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
NAMES_ENV_VAR = "COURSE_NAMES_FILE"
SHARED_MODE = 0o644
"""The mode of the data/names.txt this module writes: a kernel running as another user reads it."""
DATA_DIR = COURSE_ROOT / "data"

BOUNDARY = "."
"""The token that marks both the start and the end of a name."""
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


class NamesDataError(RuntimeError):
    """The names file is missing, unreadable or not the expected file."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _check(path: Path, origin: str, fix: str) -> Path:
    if not path.is_file():
        raise NamesDataError(f"{origin} names {path}, which does not exist. Fix: {fix}")
    digest = sha256_of(path)
    if digest != NAMES_SHA256:
        raise NamesDataError(
            f"{path} is not the course's names.txt: its SHA-256 is {digest}, "
            f"expected {NAMES_SHA256}. Move that file away and run `make data` to fetch "
            "the right one."
        )
    return path


_FIX_DEFAULT = (
    "run `make data` in the course folder (it downloads names.txt), or point "
    f"{NAMES_ENV_VAR} at a copy of names.txt: `export {NAMES_ENV_VAR}=/path/to/names.txt`."
)
_FIX_ENV = (
    f"correct the path in {NAMES_ENV_VAR}, or `unset {NAMES_ENV_VAR}` to use the course's "
    "data/names.txt (`make data` fetches it)."
)


def download_names(dest: Path | None = None, url: str | None = None, timeout: float = 30) -> Path:
    """Download names.txt to ``dest`` (default ``data/names.txt``), verifying its SHA-256.

    The file only appears at ``dest`` once it is complete and verified, so an
    interrupted or corrupted download never leaves a bad file behind.
    """
    dest = Path(dest) if dest is not None else DATA_DIR / "names.txt"
    url = url or NAMES_URL
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise NamesDataError(
            f"Could not download the names from {url} ({exc}). "
            f"If this machine is offline, copy names.txt from a machine that is online "
            f"and set {NAMES_ENV_VAR} to its path, e.g. "
            f"`export {NAMES_ENV_VAR}=/path/to/names.txt`; otherwise run `make data` again."
        ) from exc
    digest = hashlib.sha256(payload).hexdigest()
    if digest != NAMES_SHA256:
        raise NamesDataError(
            f"The file downloaded from {url} has SHA-256 {digest}, expected {NAMES_SHA256}; "
            f"nothing was saved. Point {NAMES_ENV_VAR} at a verified copy of names.txt."
        )
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False, suffix=".part") as tmp:
        tmp.write(payload)
    _publish(Path(tmp.name), dest)
    return dest


def _publish(tmp: Path, dest: Path) -> None:
    """Move a complete, verified ``tmp`` to ``dest``, readable by every user.

    NamedTemporaryFile creates its file 0600, and os.replace keeps that mode: the grading
    sandbox's kernel, another user, could then not read the names.
    """
    os.chmod(tmp, SHARED_MODE)
    os.replace(tmp, dest)


def share(path: Path) -> bool:
    """Make ``path`` readable by every user if it is not (returns whether it changed anything)."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o444 == 0o444:
        return False
    try:
        os.chmod(path, mode | 0o444)
    except OSError:  # another user's file: the grading preflight names the fix (chmod a+r)
        return False
    return True


def names_path(path: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Locate (and if needed fetch) a verified copy of names.txt.

    Args:
        path: an explicit file to use; it must exist and have the expected checksum.
        download: fetch ``data/names.txt`` when no other copy is found.
    """
    if path is not None:
        return _check(Path(path), "The path you passed", "pass the path of a copy of names.txt.")
    from_env = os.environ.get(NAMES_ENV_VAR)
    if from_env:
        return _check(Path(from_env).expanduser(), f"${NAMES_ENV_VAR}", _FIX_ENV)
    cached = DATA_DIR / "names.txt"
    if cached.exists():
        return _check(cached, "The course's data folder", _FIX_DEFAULT)
    if not download:
        raise NamesDataError(f"No names.txt found at {cached}. Fix: {_FIX_DEFAULT}")
    return download_names(cached)


def load_names(path: str | os.PathLike | None = None) -> list[str]:
    """The list of names, one per line of names.txt, in file order."""
    text = names_path(path).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def build_vocab(alphabet: str = ALPHABET) -> tuple[dict[str, int], dict[int, str]]:
    """``stoi`` and ``itos`` with the boundary token ``.`` at 0 and the letters after it."""
    itos = dict(enumerate(BOUNDARY + alphabet))
    stoi = {ch: i for i, ch in itos.items()}
    return stoi, itos


def ngrams(words: Iterable[str], n: int = 2) -> list[tuple[str, ...]]:
    """All n-grams of characters of each word, padded with the boundary token.

    Each word gets ``n - 1`` boundary tokens in front and one at the end, so that
    every n-gram predicts its last character from the ``n - 1`` before it, and
    the model also learns where names start and stop. ``ngrams(["ab"], 2)`` is
    ``[(".", "a"), ("a", "b"), ("b", ".")]``.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    grams: list[tuple[str, ...]] = []
    for word in words:
        chars = [BOUNDARY] * (n - 1) + list(word) + [BOUNDARY]
        grams.extend(tuple(chars[i : i + n]) for i in range(len(chars) - n + 1))
    return grams


def ngram_indices(
    words: Iterable[str], n: int = 2, stoi: dict[str, int] | None = None
) -> tuple[list[tuple[int, ...]], list[int]]:
    """Integer contexts and targets for an n-gram model: ``(contexts, targets)``.

    ``contexts[i]`` holds the indices of the ``n - 1`` characters before
    ``targets[i]``. Pass them to ``torch.tensor`` to get ``xs, ys``.
    """
    stoi = stoi if stoi is not None else build_vocab()[0]
    contexts, targets = [], []
    for gram in ngrams(words, n):
        try:
            idx = [stoi[ch] for ch in gram]
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary") from None
        contexts.append(tuple(idx[:-1]))
        targets.append(idx[-1])
    return contexts, targets


def split_words(
    words: Sequence[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 42
) -> tuple[list[str], list[str], list[str]]:
    """Shuffle a copy of ``words`` with ``random.seed(seed)`` and cut it into train/dev/test.

    Uses the global :mod:`random` state exactly as ``random.seed(42);
    random.shuffle(words)`` would, so the split matches the lecture's.
    """
    import random

    if abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must add up to 1, got {fractions}")
    shuffled = list(words)
    random.seed(seed)
    random.shuffle(shuffled)
    n1 = int(fractions[0] * len(shuffled))
    n2 = int((fractions[0] + fractions[1]) * len(shuffled))
    return shuffled[:n1], shuffled[n1:n2], shuffled[n2:]


def install_names(source: str | os.PathLike, dest: Path | None = None) -> Path:
    """Copy a verified names.txt to ``dest`` (default ``data/names.txt``), where every kernel looks.

    ``source`` must have the expected SHA-256. The copy appears at ``dest`` only once it
    is complete and verified too; a ``dest`` that already is that file is left alone.
    """
    source = _check(Path(source).expanduser(), "The path you passed", "pass the path of a copy of names.txt.")
    dest = Path(dest) if dest is not None else DATA_DIR / "names.txt"
    if dest.is_file() and (dest.resolve() == source.resolve() or sha256_of(dest) == NAMES_SHA256):
        if dest.resolve() != source.resolve():
            share(dest)  # an older make data left it private
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False, suffix=".part") as tmp:
        with source.open("rb") as fh:
            shutil.copyfileobj(fh, tmp)
    if sha256_of(Path(tmp.name)) != NAMES_SHA256:  # changed while we copied it
        os.unlink(tmp.name)
        raise NamesDataError(f"{source} changed while it was copied to {dest}; run `make data` again.")
    _publish(Path(tmp.name), dest)
    return dest


def main() -> int:
    """``python -m course_utils.data``: make sure a verified names.txt is in ``data/``."""
    try:
        path = names_path()
        origin = os.environ.get(NAMES_ENV_VAR)
        if origin:
            path = install_names(path)
        elif path == DATA_DIR / "names.txt":
            share(path)  # an older make data left it private
    except NamesDataError as exc:
        print(f"error: {exc}")
        return 1
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    print(f"names.txt is ready: {shown} ({len(load_names(path)):,} names, SHA-256 verified)")
    if origin:
        print(f"  copied from {NAMES_ENV_VAR}={origin}: notebooks and new shells find it in "
              f"{path.parent} without the variable.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
