"""The torture suite: kill -9 under load, races, callbacks across processes, start-up.

Short version: ``tests/torture/test_torture.py`` (part of the normal suite, both databases).
Long version, on demand, prints the table: ``.venv/bin/python -m tests.torture --long``.
"""
