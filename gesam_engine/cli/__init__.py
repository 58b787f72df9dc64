"""The ``gesam`` command line."""
