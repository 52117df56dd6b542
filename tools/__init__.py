"""The scripts behind `make check`, `make copy` and `make mutate`; run them with `python -m tools.<name>`."""
