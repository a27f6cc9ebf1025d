"""Text from the outside world, made safe to print.

Header names, unknown fields, file names and values come from department files; printed
raw, a control sequence in one (``ESC[2J``) would act on the terminal. ``printable``
escapes every character Python does not consider printable (controls, format characters
such as bidirectional overrides, line separators) and leaves letters of any script alone.
"""

from __future__ import annotations


def printable(text: object) -> str:
    """``text`` with each non-printable character written as its escape (``\\x1b``, ``\\u202e``)."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
