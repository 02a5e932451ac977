"""A griffe extension that makes plain-text docstrings read as the Markdown they look like.

- Kidger-style docstrings write a list right under its heading ("**Arguments:**" then
  "- `x`: ..."), which Markdown reads as one paragraph: a blank line is inserted before such a
  list, and after it when plain text follows.
- A star after a symbol (τ*, L2*) is the critical value, not emphasis: it is escaped unless it
  closes an italic opened earlier in the paragraph (*like this*).
"""

import re

import griffe

_ITEM = re.compile(r"^(\s*)[-*] ")
_CODE_SPAN = re.compile(r"(`+)(.*?)\1")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def separate_lists(text: str) -> str:
    """Return `text` with a blank line before each list that follows a paragraph line and after
    each list that plain text follows at the list's own indentation."""
    out: list[str] = []
    list_indent: int | None = None  # indentation of the current list's markers
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        item = None if in_fence else _ITEM.match(line)
        previous = out[-1] if out else ""
        if in_fence or not line.strip():
            out.append(line)
            continue
        if item:
            if list_indent is None and previous.strip():
                out.append("")
            if list_indent is None or len(item.group(1)) < list_indent:
                list_indent = len(item.group(1))
        elif list_indent is not None and _indent(line) <= list_indent:
            if previous.strip():
                out.append("")
            list_indent = None
        out.append(line)
    return "\n".join(out)


def _escape_stars(text: str, italic: bool) -> tuple[str, bool]:
    """Escape the literal stars of `text` (no code spans in it); `italic`: whether an italic
    is open. Returns the text and whether an italic is still open."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith("**", i):
            out.append("**")
            i += 2
            continue
        if text[i] == "*":
            before = text[i - 1] if i else " "
            after = text[i + 1] if i + 1 < len(text) else " "
            if before.isspace() or before in "([{\"'":
                italic = italic or not after.isspace()
                out.append("*")
            elif italic:
                italic = False
                out.append("*")
            else:
                out.append("\\*")
            i += 1
            continue
        out.append(text[i])
        i += 1
    return "".join(out), italic


def escape_literal_stars(text: str) -> str:
    """Return `text` with every star that is neither emphasis nor a list marker escaped, outside
    code spans and fenced code."""
    out: list[str] = []
    in_fence = in_code = in_list = False
    italic = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if not line.strip():
            italic = False
            out.append(line)
            continue
        # an indented code block: indented by 4 after a blank line, outside a list
        starts_code = _indent(line) >= 4 and not in_list and (not out or not out[-1].strip())
        in_code = (in_code and _indent(line) >= 4) or starts_code
        in_list = bool(_ITEM.match(line)) or (in_list and _indent(line) > 0)
        if in_fence or in_code or line.lstrip().startswith("```"):
            out.append(line)
            continue
        marker = _ITEM.match(line)
        head, body = (line[: marker.end()], line[marker.end() :]) if marker else ("", line)
        pieces, last = [], 0
        for code in _CODE_SPAN.finditer(body):
            escaped, italic = _escape_stars(body[last : code.start()], italic)
            pieces += [escaped, code.group(0)]
            last = code.end()
        escaped, italic = _escape_stars(body[last:], italic)
        out.append(head + "".join(pieces) + escaped)
    return "\n".join(out)


def to_markdown(text: str) -> str:
    """`separate_lists` then `escape_literal_stars`."""
    return escape_literal_stars(separate_lists(text))


class MarkdownLists(griffe.Extension):
    """Applies `to_markdown` to every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
