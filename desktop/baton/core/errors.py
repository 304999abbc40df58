"""The one documented error hierarchy, as the core names it: the very classes of ``baton.errors`` (which sits
below config and paths so they can raise them too). ``except baton.core.errors.X`` and ``except
baton.errors.X`` catch the same errors."""

from baton.errors import *  # noqa: F403 - the same objects, re-exported
from baton.errors import __all__  # noqa: F401
