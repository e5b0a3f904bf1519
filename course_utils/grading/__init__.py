"""The instructor's tools. Students' copies of the course never hold this package.

Grading a class (``make grade``, ``make feedback``, ``nbgrader autograde``, the Formgrader):
    :mod:`.course` the course folder and its submissions, :mod:`.settings` the grading
    settings, :mod:`.grade` the command, :mod:`.pool` its workers, :mod:`.autograde` one
    submission, :mod:`.execute` the nbgrader preprocessors it runs, :mod:`.gradebook` the
    statuses kept in nbgrader's gradebook, :mod:`.report` the run's summary,
    :mod:`.canary` the checks of the machine before any student, :mod:`.feedback`,
    :mod:`.lms` (to and from a learning-management system).
Reading what students hand in: :mod:`.ingest` (a submission folder), :mod:`.repair` (a
    damaged notebook), :mod:`.faults` (the grader's own faults, never a student's score),
    :mod:`.safe_html` (pages rendered from submissions).
Keeping a score earned: :mod:`.sandbox` (the kernel's bubblewrap sandbox), :mod:`.judge`
    (test cells run outside the student's kernel), :mod:`.integrity` (replaced functions).
Writing the course: :mod:`.authoring` (releases, the student distribution, the tests'
    fidelity, dictation, notebook tags); :mod:`.references` the hidden tests' own helpers.
"""
