"""Timing: the one engine of interleaved, verified blocks, the cases and sweeps it times, their statistics and the two-
run comparison."""
