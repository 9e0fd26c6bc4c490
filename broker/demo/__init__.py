"""`broker demo`: a synthetic multi-agency gallery and a scripted set of queries."""
