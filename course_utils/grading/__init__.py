"""The instructor's tools: building student releases, checking that the tests grade fairly, grading."""
