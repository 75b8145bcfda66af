"""Text from a source made safe to show on a terminal, in a log or a message. A leaf (it imports
nothing of watcher), so the renderers and the log scrubbing in ``redact.py`` share it without
the log layer importing the renderers."""

from __future__ import annotations

import re

#: A terminal escape sequence, dropped whole: CSI (``ESC [`` or U+009B, parameters, a final
#: byte: colours, cursor moves, ``ESC[2J`` clearing the screen); a terminated OSC, DCS, SOS, PM
#: or APC string (``ESC ] 0;title BEL`` retitling the window); ESC with intermediates and a
#: final byte (``ESC c`` resets the terminal). An unterminated string loses only its ESC: the
#: text after it stays visible.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]")
#: Bidirectional overrides, embeddings and isolates: invisible, yet they reorder the text
#: around them (U+202E shows "fdp.exe" as "exe.pdf"). Right-to-left letters are kept, and so
#: are the marks (LRM, RLM, ALM): they reorder nothing, and Hebrew and Arabic titles use them
#: to put punctuation where it belongs.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
#: C0 and C1 controls (BEL, backspace, a lone ESC, CR, LF, tab), DEL, the Unicode line and
#: paragraph separators and lone surrogates: each becomes a space.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def printable(value: object, *, lines: bool = False) -> str:
    """*value* (a source's text, an error quoting it) safe to show on a terminal, in a log or
    a message: escape sequences and bidi controls dropped, every other control character a
    space. Line breaks become spaces too (one line), unless *lines*: then every kind of line
    break (CR LF, CR, U+2028, ...) is one newline. Spacing is left as it is: callers wanting
    one tidy line collapse it."""
    text = _ESCAPE_SEQUENCE.sub("", "" if value is None else str(value))
    if lines:
        return "\n".join(printable(line) for line in text.splitlines())
    return _CONTROL.sub(" ", _BIDI.sub("", text))


def one_line(value: object) -> str:
    """*value* printable and folded to one line, every run of spacing a single space: what may
    go into an error message, a log line or a mail header without starting a new one."""
    return " ".join(printable(value).split())
