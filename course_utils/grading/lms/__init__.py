"""The course and a learning-management system: a roster, bulk downloads in, grades out.

    make collect ZIP=submissions.zip ASSIGNMENT=01_probability [LMS=canvas|moodle] [ROSTER=roster.csv]
    make export FORMAT=canvas|moodle|csv [ROSTER=roster.csv] [INCLUDE_UNREVIEWED=1]

or, without make, ``course-collect``, ``course-export`` and ``course-roster`` (each with ``--help``).
"""
