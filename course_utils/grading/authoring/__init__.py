"""Writing the course: what an instructor runs on ``solutions/``, never on submissions.

:mod:`.release` the student versions (nbgrader's generate_assignment), :mod:`.dist` the
students' archive, :mod:`.tags` the notebooks' metadata, :mod:`.fidelity` whether the tests
fail wrong answers and pass right ones, :mod:`.dictation` whether a TODO banner gives the
answer away, :mod:`.roundtrip` nbgrader's whole cycle on one assignment, :mod:`.synthetic`
scratch courses and classes (the canary, the tests and the benchmark build theirs with it).
"""
