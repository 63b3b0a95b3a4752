"""`make run`: the whole pipeline as supervised local processes."""
