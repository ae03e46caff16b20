"""Contractors (相关方): companies, their workers, qualifications, safety inductions, and the
admission check before a contractor's worker may be named on a permit (issue 7)."""
