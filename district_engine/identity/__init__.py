"""Who calls, and what their word is worth: principals (admin, operator, channel, a channel's
user, gate), channel-scoped user ids, user tokens (JWT), and the trusted-position rule. No I/O but
in ``service.py``, which resolves credentials against the store."""

from district_engine.identity.principals import Kind, Principal, channel_of, scoped_user, unscoped_user
from district_engine.identity.trust import Fix, distrust

__all__ = ["Kind", "Principal", "scoped_user", "unscoped_user", "channel_of", "Fix", "distrust"]
