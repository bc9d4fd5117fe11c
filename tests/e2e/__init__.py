"""End to end: the real command in a terminal (tmux), killed and started again."""
