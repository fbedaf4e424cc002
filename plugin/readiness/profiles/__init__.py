"""Bot profiles: how the checks read a bot that is not shaped like the reference bot."""
