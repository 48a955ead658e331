"""The ``phitrace`` command line: a thin layer over the stages."""
