"""The web dashboard under ``/_sandbox/``: server-rendered pages where a person sees and drives
the whole sandbox. Providers contribute through ``Mounted.dashboard`` (``parts.py``); the pages
(``pages.py``) and templates never name a provider."""
