"""The benchmark suite: the real stack measured side by side with the Docker API floor.

`python -m bench` (or `make bench`) starts one exec worker and one front end as the
tests do, runs every metric against both the stack and the floor (the Docker
Engine API called directly), prints a markdown table and writes the numbers to
bench/results/. See bench/README.md.
"""
