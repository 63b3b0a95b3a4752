"""`make bench`: the pipeline's speed, measured on this machine and printed."""
