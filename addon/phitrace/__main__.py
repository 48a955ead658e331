"""Allow ``python -m phitrace``."""

from phitrace.cli import main

main()
