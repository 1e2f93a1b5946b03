"""Text that people read is what it looks like: the one place that says which characters text may hold.

Everything a person types and someone else reads (a shipping name or city, a product's name or
description, a name on a card) and everything a list is searched for goes through
`readable_text` before it is stored or queried. It drops what changes how text looks or reads
without being seen itself:

- control characters: C0 (NUL, ESC, ...), DEL and C1 (U+0080-U+009F): terminal escapes, a NUL
  that ends a full-text query;
- Unicode format characters (general category Cf): bidi overrides, embeddings, isolates and
  marks (an order for "\u202egnp.exe" shows as "exe.png"), zero-width space, joiner and
  non-joiner, word joiner, the BOM, soft hyphen, invisible math operators, tag characters;
- lone surrogates (category Cs), which no database can store as UTF-8.

Zero-width joiners go too, although one inside an emoji sequence is legitimate (👨‍👩‍👧 is one
glyph of a family): the issue asks for every zero-width character to go, and telling the
harmless joiner from the one that hides a difference between two names is not worth a rule.
Such an emoji shows as its parts (👨👩👧); a Persian word written with a zero-width non-joiner
shows its letters joined; a subdivision flag (its tag characters) becomes a black flag. Emoji
themselves, their skin tones and variation selectors (combining marks, not format characters),
and every script's letters stay. Private-use and unassigned code points stay too: a newer
Unicode than this Python knows may have assigned them (new emoji).

Line breaks and tabs are white space, never dropped: a single-line field gets a space for each,
a multi-line one (a description) keeps its line breaks, all written "\n".
"""

from __future__ import annotations

import unicodedata

# Categories that never belong in text people read (see the module docstring).
UNREADABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
# Line breaks: CR LF and CR (typed on some systems), NEL (C1), LINE and PARAGRAPH SEPARATOR.
LINE_BREAKS = frozenset({"\n", "\r", "\x85", "\u2028", "\u2029"})
# The other white-space controls: tab, vertical tab, form feed, and the ASCII separators
# (FS GS RS US), which str.split() counts as white space too.
SPACE_CONTROLS = frozenset({"\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f"})


def readable_text(text: str, *, multiline: bool = False) -> str:
    """`text` without control, format and surrogate characters; line breaks and tabs as white space.

    Single-line (the default): every line break and tab becomes a space. `multiline`: line breaks
    become "\n" and tabs a space. Nothing is trimmed or cut: the caller bounds and trims its field.
    Idempotent: readable_text(readable_text(t)) == readable_text(t).
    """
    if text.isprintable():  # the usual case: no control, format, separator or unassigned character
        return text
    kept = []
    for character in text.replace("\r\n", "\n"):
        if character in LINE_BREAKS:
            kept.append("\n" if multiline else " ")
        elif character in SPACE_CONTROLS:
            kept.append(" ")
        elif unicodedata.category(character) not in UNREADABLE_CATEGORIES:
            kept.append(character)
    return "".join(kept)
