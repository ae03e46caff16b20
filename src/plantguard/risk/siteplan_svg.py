"""A strict allow-list SVG sanitiser for uploaded site plans.

Why our own small tree builder on expat instead of ElementTree: a plan comes from a client,
and an SVG can carry scripts, event attributes (``onload``), ``<foreignObject>`` HTML,
references to external files (``href``, ``url(http://…)``, ``@import``) and XML entity tricks.
Here a document type declaration (and with it every entity, internal or external) refuses
the file before any expansion happens; processing instructions are ignored; and the output
is *rebuilt* from an allow-list of elements and attributes, so anything not known to be
harmless is dropped rather than hunted for. References survive only as local fragments
(``#id``). The result is what is stored and served.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MAX_ELEMENTS = 50_000
MAX_DEPTH = 64

ELEMENTS = frozenset({
    "svg", "g", "defs", "title", "desc", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
    "text", "tspan", "linearGradient", "radialGradient", "stop", "clipPath", "symbol", "use", "marker",
    "pattern",
})
TEXT_ELEMENTS = frozenset({"title", "desc", "text", "tspan"})
ATTRIBUTES = frozenset({
    "id", "class", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "width", "height",
    "d", "points", "transform", "viewBox", "preserveAspectRatio", "fill", "fill-opacity", "fill-rule", "stroke",
    "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-dasharray",
    "stroke-dashoffset", "stroke-miterlimit", "opacity", "font-family", "font-size", "font-weight",
    "font-style", "text-anchor", "dominant-baseline", "letter-spacing", "offset", "stop-color", "stop-opacity",
    "gradientUnits", "gradientTransform", "spreadMethod", "clip-path", "clip-rule", "clipPathUnits",
    "visibility", "display", "style", "marker-start", "marker-mid", "marker-end", "markerWidth", "markerHeight",
    "markerUnits", "refX", "refY", "orient", "dx", "dy", "rotate", "textLength", "lengthAdjust",
    "patternUnits", "patternContentUnits", "patternTransform", "vector-effect", "href",
})
# Attributes whose value may reference something: only ``url(#id)`` is kept.
URL_VALUE = re.compile(r"url\s*\(", re.I)
LOCAL_URL = re.compile(r"url\(\s*['\"]?#[A-Za-z_][\w.:-]*['\"]?\s*\)")
STYLE_BAD = re.compile(r"@import|expression\s*\(|javascript:|behavior\s*:|-moz-binding|\\", re.I)
NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(px)?\s*$")

NOT_SVG = N_("Only SVG, PNG, JPEG or WebP site plans are accepted")


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    children: list[_Node | str] = field(default_factory=list)


@dataclass
class Sanitised:
    data: bytes
    min_x: float
    min_y: float
    width: float
    height: float
    removed: list[str]  # what was dropped, for the answer (sorted, unique)


class _Refused(Exception):
    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


def _refuse(message: str, **params: object) -> ValidationFailed:
    return ValidationFailed([FieldError("file", message, dict(params))])


def _local(name: str) -> tuple[str, str]:
    """(namespace, local name) of an expat name built with the ' ' separator."""
    if " " in name:
        ns, local = name.split(" ", 1)
        return ns, local
    return "", name


def _parse(data: bytes) -> _Node:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root: list[_Node] = []
    stack: list[_Node] = []
    count = [0]

    def doctype(*_: object) -> None:
        raise _Refused(N_("The SVG file may not contain a document type declaration or entities"))

    def start(name: str, attrs: dict[str, str]) -> None:
        count[0] += 1
        if count[0] > MAX_ELEMENTS or len(stack) >= MAX_DEPTH:
            raise _Refused(N_("The SVG file is too complex (at most %(n)s elements)"), n=MAX_ELEMENTS)
        node = _Node(name, dict(attrs))
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(name: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack:
            stack[-1].children.append(text)

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.UnparsedEntityDeclHandler = doctype
    parser.ExternalEntityRefHandler = doctype  # type: ignore[assignment]  # raises, never returns
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise _refuse(exc.message, **exc.params) from None
    except expat.ExpatError as exc:
        raise _refuse(N_("The SVG file is not well-formed XML (line %(line)s)"), line=exc.lineno) from None
    if not root:
        raise _refuse(NOT_SVG)
    return root[0]


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    m = NUMBER.match(value)
    return float(m.group(1)) if m else None


def _box(root: _Node) -> tuple[float, float, float, float]:
    view_box = root.attrs.get("viewBox")
    if view_box:
        parts = [p for p in re.split(r"[\s,]+", view_box.strip()) if p]
        nums = [_number(p) for p in parts]
        if len(nums) == 4 and all(n is not None for n in nums):
            x, y, w, h = (float(n) for n in nums if n is not None)
            if w > 0 and h > 0:
                return x, y, w, h
    w0, h0 = _number(root.attrs.get("width")), _number(root.attrs.get("height"))
    if w0 and h0 and w0 > 0 and h0 > 0:
        return 0.0, 0.0, w0, h0
    raise _refuse(N_("The SVG file needs a viewBox (or a width and height in plain numbers)"))


def _clean_value(name: str, value: str) -> str | None:
    if name == "href":
        return value if re.fullmatch(r"#[A-Za-z_][\w.:-]*", value.strip()) else None
    if name == "style":
        if STYLE_BAD.search(value):
            return None
        if URL_VALUE.search(LOCAL_URL.sub("", value)):
            return None
        return value
    if URL_VALUE.search(value) and URL_VALUE.search(LOCAL_URL.sub("", value)):
        return None
    return value


def _serialise(node: _Node, removed: set[str], out: list[str], top: bool = False) -> None:
    ns, tag = _local(node.tag)
    if ns != SVG_NS or tag not in ELEMENTS:
        removed.add(f"<{tag}>")
        return
    attrs: list[str] = []
    if top:
        attrs.append(f"xmlns={quoteattr(SVG_NS)}")
    for raw_name, value in node.attrs.items():
        ans, name = _local(raw_name)
        if ans == XLINK_NS and name == "href":
            ans = ""
        if ans or name not in ATTRIBUTES or name.lower().startswith("on"):
            removed.add(name)
            continue
        if name == "href" and tag != "use" and not tag.endswith("Gradient") and tag != "pattern":
            removed.add(name)
            continue
        clean = _clean_value(name, value)
        if clean is None:
            removed.add(name)
            continue
        attrs.append(f"{name}={quoteattr(clean)}")
    out.append("<" + " ".join([tag, *attrs]) + ">")
    for child in node.children:
        if isinstance(child, str):
            if tag in TEXT_ELEMENTS:
                out.append(escape(child))
        else:
            _serialise(child, removed, out)
    out.append(f"</{tag}>")


def sanitise(data: bytes) -> Sanitised:
    """The plan rebuilt from the allow-list, with its coordinate box; ``ValidationFailed`` on
    the field ``file`` when it is not an SVG we can trust."""
    root = _parse(data)
    ns, tag = _local(root.tag)
    if ns != SVG_NS or tag != "svg":
        raise _refuse(NOT_SVG)
    min_x, min_y, width, height = _box(root)
    removed: set[str] = set()
    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _serialise(root, removed, out, top=True)
    return Sanitised("".join(out).encode("utf-8"), min_x, min_y, width, height, sorted(removed))


def looks_like_xml(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")
