"""Reading a submitted notebook and repairing the damage a student can do to its nbgrader metadata.

nbgrader fails a whole submission when a cell's ``grade_id`` was edited ("the
nbgrader metadata may be corrupted"), when a locked cell was both edited and
unlocked ("Inconsistent checksums"), or when two cells carry the same id. Here
the submission is compared with the student version it was made from (the
release) and every nbgrader cell is given back its release metadata:

- a cell whose id is unknown is matched to the release cell it came from, by
  its locked content (a test cell the student did not change) or, failing that,
  by its position (the only release cell of the same kind missing between its
  matched neighbours); a cell that matches nothing fails the submission;
- a second cell with an id already seen is kept as an ordinary cell;
- the release metadata (locked, points, solution/grade, checksum) is restored on
  every matched cell, so nbgrader's ``OverwriteCells`` then restores the locked
  sources from the gradebook as usual;
- a deleted answer cell is put back as in the release (it then fails its tests).
  Deleted test cells are left to nbgrader's ``OverwriteCells.add_missing_cells``,
  which puts them back and grades them.

Cells the student added stay where they are and run. The submitted file itself
is never written: the repaired notebook goes to a staging folder.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode
from nbgrader import utils

MAX_NOTEBOOK_BYTES = 64 << 20
"""A notebook larger than this is not read: the course's notebooks with all their figures are
a few MB, and every copy the grader makes of a larger one costs memory and time."""
MAX_DEPTH = 100
"""Deepest nesting of JSON containers read (nbformat's own structure is 6 deep; a plot spec in an
output perhaps 20). Deeper data would crash the grader's recursive code (copy, validation)."""


class Unrepairable(Exception):
    """The submission cannot be graded; the message says why, for an instructor."""


class TooComplex(Unrepairable):
    """The notebook is too large or too deeply nested to be read safely."""


def json_depth(value) -> int:
    """How deeply ``value``'s lists and dicts nest (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


@dataclass
class Repaired:
    nb: NotebookNode
    notes: list[str] = field(default_factory=list)
    """What was repaired, one short sentence each (shown in grades.csv and the gradebook)."""


def parse(data: bytes, name: str) -> NotebookNode:
    """The notebook in ``data``, or :class:`Unrepairable` saying in words what the file is."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise TooComplex(f"notebook too large: {name} is {len(data) / 2**20:,.0f} MB (more than "
                         f"{MAX_NOTEBOOK_BYTES >> 20} MB is not read); review it by hand")
    text = data.decode("utf-8", errors="replace")
    if not text.strip():
        raise Unrepairable(f"not a notebook: {name} is empty")
    too_deep = TooComplex(f"notebook too deeply nested: {name} nests its data more than {MAX_DEPTH} "
                          "levels deep (no notebook does); review it by hand")
    try:
        raw = json.loads(text)
    except RecursionError:
        raise too_deep from None
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{"):
            raise Unrepairable(
                f"invalid JSON: {name} is damaged (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                "ask the student for an intact copy") from None
        start = text.strip().splitlines()[0][:40]
        raise Unrepairable(f"not a notebook: {name} is not JSON (it starts with {start!r})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list) or "nbformat" not in raw:
        raise Unrepairable(f"not a notebook: {name} is JSON but not in Jupyter's notebook format")
    if json_depth(raw) > MAX_DEPTH:
        raise too_deep
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validator.normalize(nb)
        nbformat.validate(nb)
    except RecursionError:
        raise too_deep from None
    except Exception as exc:  # noqa: BLE001  (nbformat raises several kinds)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Unrepairable(f"not a valid notebook: {name}: {first[:200]}") from None
    return nb


def _grade_id(cell: NotebookNode) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    if not isinstance(meta, dict):
        return None
    gid = meta.get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def _has_nbgrader(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader")
    return isinstance(meta, dict) and bool(
        meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task")
        or "grade_id" in meta)


def _kind(cell: NotebookNode) -> tuple:
    meta = cell.metadata.get("nbgrader", {})
    return (cell.cell_type, bool(meta.get("grade")), bool(meta.get("solution")))


def _describe(index: int, cell: NotebookNode) -> str:
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {index + 1} ({first[:50]!r})" if first else f"cell {index + 1}"


def repair(nb: NotebookNode, release: NotebookNode, name: str) -> Repaired:
    """Give every nbgrader cell of ``nb`` its release metadata back (see the module docstring)."""
    fix = _Repair(copy.deepcopy(nb), release, name)
    fix.malformed()
    fix.kernelspec()
    fix.match_known()
    fix.match_unknown()
    fix.release_order()
    fix.restore_metadata()
    fix.put_back_answers()
    return Repaired(fix.nb, fix.notes)


class _Repair:
    """The steps of :func:`repair` on one notebook, in order; ``matched`` maps cell index -> grade id."""

    def __init__(self, nb: NotebookNode, release: NotebookNode, name: str):
        self.nb, self.release, self.name = nb, release, name
        self.notes: list[str] = []
        self.cells = [(i, c, _grade_id(c)) for i, c in enumerate(release.cells) if _grade_id(c)]
        self.by_id = {gid: c for _, c, gid in self.cells}
        self.order = {gid: pos for pos, (_, _, gid) in enumerate(self.cells)}
        self.matched: dict[int, str] = {}
        self.unknown: list[int] = []

    def note(self, text: str) -> None:
        self.notes.append(f"{self.name}: {text}")

    def malformed(self) -> None:
        """A cell whose nbgrader metadata is not a mapping fails the submission, saying which.

        nbgrader and the grader read that metadata as a mapping; it is the student's own
        notebook that is damaged (JupyterLab never writes anything else), not the grader.
        """
        for index, cell in enumerate(self.nb.cells):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not isinstance(meta, dict):
                raise Unrepairable(
                    f"metadata damaged beyond repair: {self.name} {_describe(index, cell)} has nbgrader "
                    f"metadata that is a {type(meta).__name__}, not a mapping; ask the student to copy "
                    "their answers into a fresh copy of the assignment")

    def release_order(self) -> None:
        """Graded cells back in the release's order, in the places graded cells hold.

        A test cell moved below a later exercise's test would run after that test lent the
        course's reference code to the notebook (checks.stand_in); only the graded cells move,
        each into the next place a graded cell held, and the cells the student added stay put.
        """
        places = sorted(self.matched)
        ordered = sorted(places, key=lambda index: self.order[self.matched[index]])
        if ordered == places:
            return
        cells = [self.nb.cells[index] for index in ordered]
        moved = [self.matched[want] for index, want in zip(places, ordered) if index != want]
        for index, cell in zip(places, cells):
            self.nb.cells[index] = cell
        self.matched = {index: self.matched[old] for index, old in zip(places, ordered)}
        shown = ", ".join(repr(gid) for gid in moved[:4]) + (f" and {len(moved) - 4} more" if len(moved) > 4 else "")
        self.note(f"graded cells were out of order ({shown}) and were put back in the order of the "
                  "student version")

    def kernelspec(self) -> None:
        if "kernelspec" not in self.nb.metadata and "kernelspec" in self.release.metadata:
            self.nb.metadata["kernelspec"] = copy.deepcopy(self.release.metadata["kernelspec"])
            self.note("the kernel metadata was missing and was put back")

    def match_known(self) -> None:
        """Cells with a known id (first occurrence) are matched; later copies become ordinary cells."""
        for index, cell in enumerate(self.nb.cells):
            if not _has_nbgrader(cell):
                continue
            gid = _grade_id(cell)
            if gid in self.by_id and gid not in self.matched.values():
                self.matched[index] = gid
            elif gid in self.by_id:
                del cell.metadata["nbgrader"]
                self.note(f"{_describe(index, cell)} is a copy of the graded cell {gid!r} "
                          "and was run as an ordinary cell")
            else:
                self.unknown.append(index)

    def match_unknown(self) -> None:
        """Cells with an unknown id: matched by locked content, then by position, else unrepairable."""
        for index in self.unknown:
            cell = self.nb.cells[index]
            choice = self._candidates(index, cell)
            if len(choice) != 1:
                old = _grade_id(cell)
                what = f"the grade id {old!r}, which the assignment does not have" if old else "no grade id"
                raise Unrepairable(
                    f"metadata damaged beyond repair: {self.name} {_describe(index, cell)} carries {what}, "
                    "and it matches no single cell of the student version")
            self.matched[index] = choice[0]
            self.note(f"the edited grade id {_grade_id(cell)!r} of {_describe(index, cell)} "
                      f"was set back to {choice[0]!r}")

    def _candidates(self, index: int, cell: NotebookNode) -> list[str]:
        missing = [gid for _, _, gid in self.cells if gid not in self.matched.values()]
        same_content = [gid for gid in missing if self.by_id[gid].metadata.nbgrader.get("locked")
                        and self.by_id[gid].source.strip() == cell.source.strip()]
        before = [self.order[g] for i, g in self.matched.items() if i < index]
        after = [self.order[g] for i, g in self.matched.items() if i > index]
        low, high = max(before, default=-1), min(after, default=len(self.cells))
        in_place = [gid for gid in missing if low < self.order[gid] < high
                    and _kind(self.by_id[gid]) == _kind(cell)]
        choice = same_content if len(same_content) == 1 else [g for g in same_content if g in in_place]
        return choice if len(choice) == 1 else (in_place if len(in_place) == 1 else [])

    def restore_metadata(self) -> None:
        """Every matched cell gets the release's metadata back (and a locked cell its source)."""
        for index, gid in self.matched.items():
            cell, original = self.nb.cells[index], self.by_id[gid]
            theirs = {k: v for k, v in cell.metadata.get("nbgrader", {}).items() if k != "grade_id"}
            ours = {k: v for k, v in original.metadata.nbgrader.items() if k != "grade_id"}
            if theirs != ours and _grade_id(cell) == gid:
                self.note(f"the nbgrader metadata of {gid!r} was edited and was restored")
            cell.metadata["nbgrader"] = copy.deepcopy(original.metadata.nbgrader)
            for key in ("editable", "deletable"):
                if key in original.metadata:
                    cell.metadata[key] = original.metadata[key]
                else:
                    cell.metadata.pop(key, None)
            if original.metadata.nbgrader.get("locked") and cell.source != original.source \
                    and cell.cell_type == original.cell_type:
                self.note(f"the edited locked cell {gid!r} was restored")

    def put_back_answers(self) -> None:
        """Deleted answer cells go back just before the next graded cell (their test cell).

        Deleted test cells are put back by nbgrader's OverwriteCells.add_missing_cells; it cannot
        place a test cell whose answer cell is missing too, so answer cells are restored here first.
        """
        present = set(self.matched.values())
        for pos, (_, original, gid) in enumerate(self.cells):
            if gid in present:
                continue
            if utils.is_grade(original):
                self.note(f"the deleted cell {gid!r} was put back")
                continue
            ids = _ids(self.nb)
            following = [i for i, g in enumerate(ids) if g is not None and self.order.get(g, -1) > pos]
            previous = [i for i, g in enumerate(ids) if g is not None and self.order.get(g, -1) < pos]
            at = min(following) if following else (max(previous) + 1 if previous else len(self.nb.cells))
            self.nb.cells.insert(at, copy.deepcopy(original))
            present.add(gid)
            self.note(f"the deleted answer cell {gid!r} was put back as in the student version")


def _ids(nb: NotebookNode) -> list[str | None]:
    return [_grade_id(c) if _has_nbgrader(c) else None for c in nb.cells]


def looks_like(nb: NotebookNode, release: NotebookNode) -> bool:
    """Whether ``nb`` is a copy of ``release`` (most of the release's grade ids are in it)."""
    ours = {g for g in map(_grade_id, release.cells) if g}
    theirs = {g for g in map(_grade_id, nb.cells) if g}
    return bool(ours) and len(ours & theirs) * 2 >= len(ours)
