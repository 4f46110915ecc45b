"""``tierguard audit``: the engine over what already runs in a cluster, so existing violations surface before
the next change to them is refused."""
