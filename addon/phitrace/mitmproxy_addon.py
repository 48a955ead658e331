"""Entry point for ``mitmdump -s "$(phitrace addon-path)"``: loads the phitrace addon."""

from phitrace.addon import PhiTrace

addons = [PhiTrace()]
