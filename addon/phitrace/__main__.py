"""Allow ``python -m phitrace``."""

from phitrace.cli.main import main

main()
