"""Similar answers across a class, exercise by exercise, for the instructor to review.

A student's answer to an exercise is only what they wrote between the marker lines.
copydetect fingerprints it (names and strings normalised, winnowed k-grams); what the
released stub contains is boilerplate, and what most of the class shares is what a short
exercise converges to, so neither counts. A pair of students is flagged by the number of
exercises on which they share uncommon code, never by one short answer. The gradebook is
not read or written: similarity is evidence to look at, not a score.

    make similarity [ASSIGNMENT=...]          # or: course-similarity [ASSIGNMENT ...]
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import jinja2
import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import highlight_overlap
from markupsafe import Markup, escape
from nbgrader import utils as nbutils

from .. import nbtools
from .course import COURSE_ROOT, RELEASE_DIR, assignments, find_submissions, source_notebooks

K = 15
"""copydetect's noise threshold: matches shorter than this many normalised characters are noise."""
WINDOW = 3
"""Winnowing window: every match of at least K + WINDOW - 1 characters is found."""
MIN_OVERLAP = 20
"""Normalised characters two answers must share before an exercise counts as shared."""
SIMILAR = 0.8
"""Share of an answer's fingerprinted code found in the other answer, for one exercise."""
COMMON_SHARE = 0.5
"""A fingerprint in more than this share of the class (and at least COMMON_MIN answers) is common."""
COMMON_MIN = 4
MIN_SHARED = 3
"""Exercises a pair must share before it is flagged ..."""
SHARED_SHARE = 0.4
"""... and at least this share of the exercises both of them answered."""
SOLUTION = "instructor's solution"
OUTPUT_DIR = "similarity"


@dataclass
class Match:
    """What two answers to one exercise share."""

    exercise: str
    similarity: float
    overlap: int
    code: tuple[str, str]
    slices: tuple[np.ndarray, np.ndarray]


@dataclass
class Pair:
    """Two owners (students, the solution, an earlier term's student) across one assignment."""

    first: str
    second: str
    answered: int
    matches: list[Match] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return len(self.matches) >= max(MIN_SHARED, math.ceil(SHARED_SHARE * self.answered))

    @property
    def overlap(self) -> int:
        return sum(m.overlap for m in self.matches)


@dataclass
class Report:
    assignment: str
    owners: list[str]
    exercises: list[str]
    pairs: list[Pair]
    seconds: float

    @property
    def flagged(self) -> list[Pair]:
        return sorted((p for p in self.pairs if p.flagged), key=lambda p: (-len(p.matches), -p.overlap))

    def per_exercise(self) -> dict[str, int]:
        """How many pairs share each exercise's code (flagged or not)."""
        counts = dict.fromkeys(self.exercises, 0)
        for pair in self.pairs:
            for match in pair.matches:
                counts[match.exercise] += 1
        return counts


def answer_code(source: str) -> str:
    """The lines between an answer cell's marker lines, dedented ("" without markers)."""
    lines = source.split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if nbtools.START_MARKER in line)
        end = next(i for i, line in enumerate(lines) if nbtools.END_MARKER in line and i > start)
    except StopIteration:
        return ""
    return textwrap.dedent("\n".join(lines[start + 1:end])).strip("\n")


def stubs_of(release) -> dict[str, str]:
    """The released stub of each code exercise, by exercise id."""
    return {c.metadata.nbgrader["grade_id"]: answer_code(c.source) for c in release.cells
            if c.cell_type == "code" and nbutils.is_solution(c)}


def answers(nb, stubs: dict[str, str]) -> dict[str, str]:
    """An owner's answers by exercise id: code cells of exercises, left out when still the stub."""
    found = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or not nbutils.is_solution(cell):
            continue
        grade_id = cell.metadata.nbgrader.get("grade_id")
        code = answer_code(cell.source)
        if grade_id in stubs and code.strip() and code != stubs[grade_id]:
            found[grade_id] = code
    return found


def _fingerprint(code: str, boilerplate) -> CodeFingerprint:
    # copydetect tokenises by the file name's extension; the code is read from memory.
    return CodeFingerprint("answer.py", K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(code))


def _read(path: Path):
    try:
        return nbtools.read(path)
    except Exception:  # noqa: BLE001  (an unreadable submission has no answers to compare)
        return None


def _notebook_in(folder: Path, name: str) -> Path | None:
    """The assignment's notebook in a submission folder (or its only notebook, if renamed)."""
    if (folder / name).is_file():
        return folder / name
    found = sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink())
    return found[0] if len(found) == 1 else None


def _release(assignment: str, root: Path, name: str):
    """The student version (its stubs are what every answer starts from)."""
    committed = root / RELEASE_DIR / assignment / name
    if committed.is_file():
        return nbtools.read(committed)
    from .authoring.release import generate

    with tempfile.TemporaryDirectory(prefix="similarity-") as tmp:
        return nbtools.read(generate(assignment, Path(tmp), root) / name)


def collect(assignment: str, root: Path, against: Path | None) -> tuple[dict, dict, dict]:
    """(current students' answers, references' answers, stubs): answers are owner -> exercise -> code."""
    (source_path,) = source_notebooks(assignment, root)
    source = nbtools.read(source_path)
    release = _release(assignment, Path(root), source_path.name)
    stubs = stubs_of(release)
    students = {}
    for task in find_submissions(Path(root), [assignment]):
        path = None if task.link else _notebook_in(Path(task.submitted), source_path.name)
        nb = _read(path) if path else None
        if nb is not None:
            students[task.student] = answers(nb, stubs)
    references = {SOLUTION: answers(source, stubs)}
    if against is not None:
        for path in sorted(Path(against).rglob("*.ipynb")):
            if ".ipynb_checkpoints" in path.parts or path.is_symlink():
                continue
            nb = _read(path)
            if nb is not None:
                references[f"earlier: {path.relative_to(against).parent}"] = answers(nb, stubs)
    return students, references, stubs


def compare(assignment: str, root: Path = COURSE_ROOT, against: Path | None = None) -> Report:
    """Compare every pair of students, and every student with the solution and the earlier terms."""
    started = time.perf_counter()
    students, references, stubs = collect(assignment, root, against)
    exercises = list(stubs)
    everyone = {**students, **references}
    pairs = {(a, b): Pair(a, b, len(everyone[a].keys() & everyone[b].keys()))
             for a, b in [*combinations(students, 2),
                          *((s, r) for s in students for r in references)]}
    for exercise in exercises:
        stub = _fingerprint(stubs[exercise], None).hashes
        owners = [o for o in everyone if exercise in everyone[o]]
        raw = {o: _fingerprint(everyone[o][exercise], list(stub)) for o in owners}
        # What most of the class writes is the exercise's natural form, not evidence of copying.
        counts: dict[int, int] = {}
        for owner in students:
            for h in (raw[owner].hashes if owner in raw else ()):
                counts[h] = counts.get(h, 0) + 1
        limit = max(COMMON_MIN, COMMON_SHARE * len(students))
        common = [h for h, n in counts.items() if n > limit]
        boiler = np.array(sorted(set(stub) | set(common)), dtype=np.int64)
        prints = {o: _fingerprint(everyone[o][exercise], boiler) if len(common) else raw[o] for o in owners}
        for (a, b), pair in pairs.items():
            if a not in prints or b not in prints:
                continue
            overlap, sims, slices = compare_files(prints[a], prints[b])
            if overlap >= MIN_OVERLAP and max(sims) >= SIMILAR:
                pair.matches.append(Match(exercise, float(max(sims)), int(overlap),
                                          (everyone[a][exercise], everyone[b][exercise]), slices))
    return Report(assignment, [*students, *references], exercises, list(pairs.values()),
                  time.perf_counter() - started)


PAGE = jinja2.Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Similarity: {{ r.assignment }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
.pair { border-top: 2px solid #888; margin-top: 2em; }
.sides { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1em; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
mark { background: #ffd27f; }
.note { color: #555; max-width: 60em; }
</style></head><body>
<h1>Similar answers: {{ r.assignment }}</h1>
<p class="note">{{ r.owners|length }} answer sets compared ({{ students }} students{% if refs %}, and
{{ refs|join(', ') }}{% endif %}), {{ r.exercises|length }} exercises, in {{ '%.1f'|format(r.seconds) }} s.
Only code written between the marker lines is compared; names and strings are normalised, so renamed
variables match. Code most of the class shares counts for nothing. A pair is flagged when it shares
uncommon code on at least {{ min_shared }} exercises and {{ share }} % of the exercises both answered.
This is evidence to review, not a verdict; no grade was changed.</p>
<h2>Flagged pairs</h2>
{% if flagged %}<table><tr><th>pair</th><th>exercises shared</th><th>of those both answered</th>
<th>shared code (characters)</th></tr>
{% for p in flagged %}<tr><td><a href="#pair-{{ loop.index }}">{{ p.first }} &amp; {{ p.second }}</a></td>
<td>{{ p.matches|length }}</td><td>{{ p.answered }}</td><td>{{ p.overlap }}</td></tr>{% endfor %}</table>
{% else %}<p>No pair is flagged.</p>{% endif %}
<h2>Pairs sharing code, by exercise</h2>
<table><tr><th>exercise</th><th>pairs</th></tr>
{% for e, n in per_exercise.items() %}<tr><td>{{ e }}</td><td>{{ n }}</td></tr>{% endfor %}</table>
{% for p in flagged %}<section class="pair" id="pair-{{ loop.index }}">
<h2>{{ p.first }} &amp; {{ p.second }}</h2>
{% for m in p.matches %}<h3>{{ m.exercise }}: {{ '%.0f'|format(100 * m.similarity) }} % similar</h3>
<div class="sides"><div><b>{{ p.first }}</b><pre>{{ marked(m, 0) }}</pre></div>
<div><b>{{ p.second }}</b><pre>{{ marked(m, 1) }}</pre></div></div>{% endfor %}
</section>{% endfor %}
</body></html>
""")


def _marked(match: Match, side: int) -> Markup:
    code, slices = match.code[side], match.slices[side]
    if slices.size == 0:
        return escape(code)
    text, _ = highlight_overlap(code, slices.astype(int), "<mark>", "</mark>", escape_html=True)
    return Markup(text)


def write_html(report: Report, path: Path) -> Path:
    """A self-contained page (no script, no network) with each flagged pair side by side."""
    refs = [o for o in report.owners if o == SOLUTION or o.startswith("earlier: ")]
    refs_named = [SOLUTION] + ([f"{len(refs) - 1} earlier submissions"] if len(refs) > 1 else [])
    page = PAGE.render(r=report, flagged=report.flagged, students=len(report.owners) - len(refs),
                       refs=refs_named, per_exercise=report.per_exercise(), marked=_marked,
                       min_shared=MIN_SHARED, share=round(100 * SHARED_SHARE))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def summary(report: Report) -> str:
    """What the terminal shows: the flagged pairs, then how many pairs share each exercise."""
    lines = [f"{report.assignment}: {len(report.owners)} answer sets, {len(report.exercises)} exercises, "
             f"{len(report.flagged)} flagged pair(s) ({report.seconds:.1f} s)"]
    for pair in report.flagged:
        shared = ", ".join(m.exercise for m in pair.matches)
        lines.append(f"  FLAGGED {pair.first} & {pair.second}: {len(pair.matches)} of {pair.answered} "
                     f"exercises ({shared})")
    busy = {e: n for e, n in report.per_exercise().items() if n}
    if busy:
        lines.append("  pairs sharing code per exercise: " + ", ".join(f"{e} {n}" for e, n in busy.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: every one with submissions)")
    parser.add_argument("--against", type=Path, default=None,
                        help="a folder of earlier terms' submissions (any *.ipynb below it) to compare with")
    parser.add_argument("--out", type=Path, default=COURSE_ROOT / OUTPUT_DIR,
                        help=f"folder for the HTML reports (default: {OUTPUT_DIR}/)")
    args = parser.parse_args(argv)
    known = assignments(COURSE_ROOT)
    unknown = [a for a in args.assignments if a not in known]
    if unknown:
        print(f"error: no assignment {', '.join(unknown)} in solutions/ (known: {', '.join(known)})",
              file=sys.stderr)
        return 2
    if args.against is not None and not args.against.is_dir():
        print(f"error: --against {args.against} is not a folder", file=sys.stderr)
        return 2
    chosen = args.assignments or [a for a in known if find_submissions(COURSE_ROOT, [a])]
    if not chosen:
        print("Nothing to compare: submitted/ holds no submissions (make collect puts them there).")
        return 0
    for assignment in chosen:
        report = compare(assignment, COURSE_ROOT, args.against)
        path = write_html(report, args.out / f"{assignment}.html")
        print(summary(report))
        print(f"  report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
