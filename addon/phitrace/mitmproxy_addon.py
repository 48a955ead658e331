"""Entry point for ``mitmdump -s "$(phitrace addon-path)"``: loads the phitrace addons."""

from phitrace.proxy.addon import PhiTrace

addons = [PhiTrace()]
