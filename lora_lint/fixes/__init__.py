"""Fixes: rules attach ``Fix``es (text edits) to findings; ``--fix`` and the LSP apply them.

* ``document``: one file's text as rules see it when building fixes (offsets, its libcst tree,
  its YAML/JSON nodes by position).
* ``python_edits`` (libcst: the call or list is rebuilt, formatting and comments kept, and the
  change narrowed to the characters that differ) and ``yaml_edits`` (minimal line and span edits
  on YAML/JSON text, never a re-dump): the edits.
* ``build``: what rules call (``rename_key``, ``set_bool``, ``add_setting``, ``edit_items``...),
  dispatching on the file's kind; each returns edits or None when the change is not certain.
* ``apply``: applying fixes to a text until nothing more changes, and to files (atomic writes).
"""
