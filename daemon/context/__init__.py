"""Pruned context: a watched tree-sitter index of the developer's projects.

``files`` decides what is never read (deny list, ``.gitignore``); ``parse``
turns one file into definitions and references; ``index`` keeps a project's
files, their symbol graph and an on-disk cache; ``extract`` answers "the
context for this target within N tokens"; ``watch`` keeps the index fresh;
``projects`` is the daemon's registry of indexed roots; ``prune`` shrinks
whole-file tool results in a conversation for a smaller context window.
"""
