"""Entry point for ``mitmdump -s "$(phitrace addon-path)"``: loads the phitrace addons."""

from phitrace.proxy.addon import PhiTrace

# Passive sessions are analysed and recorded in a worker process: the event loop only captures.
addons = [PhiTrace(workers=True)]
