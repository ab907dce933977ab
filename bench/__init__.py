"""Benchmarks of csvpipe, run by hand (``python -m bench.<name>``), never by the test suite.

Why a package of its own: benchmarks need large generated files, optional libraries (pandas,
polars, psutil: ``pip install -e '.[bench]'``) and minutes of wall time; none of that belongs in
``tests/``, which never times anything. Generated files go to ``bench/out/`` (git-ignored).
"""
