"""Interactive runbooks: parse, lint, render templates as data, run guarded actions.

No Textual here: the console's runbook screen is a thin view over :mod:`session`.
"""
