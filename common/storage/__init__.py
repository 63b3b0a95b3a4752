"""The lake's on-disk formats, each with one owner, and the one way to read them."""
