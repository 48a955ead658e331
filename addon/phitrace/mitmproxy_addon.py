"""Entry point for ``mitmdump -s "$(phitrace addon-path)"``: loads the phitrace addon."""

from phitrace.proxy.addon import PhiTrace

addons = [PhiTrace()]
