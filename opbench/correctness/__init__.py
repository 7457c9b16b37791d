"""Correctness: each implementation against its op's float64 reference, in declared checks with tolerances."""
