"""The only package that speaks SQL.

``db`` runs repository functions against SQLite or PostgreSQL; the other modules are those
repository functions, written once in portable SQL (``?`` placeholders, rewritten for psycopg).
"""
