"""The console's top-level views, one module each; ``VIEWS`` is their order and keys."""
