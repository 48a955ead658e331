"""Entry point for ``mitmdump -s "$(phitrace addon-path)"``: loads the phitrace addons."""

from mitmproxy import addonmanager, hooks
from mitmproxy.proxy import layers, server_hooks

from phitrace.proxy.addon import PhiTrace

HOOK_MODULES = (addonmanager, layers, server_hooks)
"""The modules that declare mitmproxy's hooks, imported so that each hook is known below."""

# mitmproxy looks every event's hook up on this module too, for every event of every flow,
# before it looks on the addons below; a name a module lacks costs two exceptions each time.
# Each hook's name is here as None (no hook of the module's own), found at once.
globals().update(dict.fromkeys(hooks.all_hooks, None))

# Passive sessions are analysed and recorded in a worker process: the event loop only captures.
addons = [PhiTrace(workers=True)]
