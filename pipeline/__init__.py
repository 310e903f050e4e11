"""Composition root: assembles every stage's commands into the one `optichannel` command."""
