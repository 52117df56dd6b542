"""`make bench`: the cookbook's recommended patterns timed against the naive ones, side by side.

Run it with ``python -m bench`` (``--help`` lists the options). Each comparison
runs its contenders in one process, alternating them over several rounds, so
that a machine getting busier or quieter during the run affects both sides
alike. The table goes to stdout; a run of every comparison also saves every sample to
``docs/results/bench.json`` and rewrites the tables in ``docs/benchmarks.md``.
"""
