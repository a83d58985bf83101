"""Studio's request JSON in an XMP packet, for JPEG and WebP files (PNG has text chunks for it).

XMP is where photo tools keep metadata of their own: an RDF description with one property per
tool namespace. Studio writes its JSON (the same as a PNG's `studio` chunk) as `studio:request`
in its namespace; the A1111 `parameters` text stays in EXIF UserComment, where other tools look.
Other tools keep unknown XMP properties when they edit a file's metadata (an edited packet may
hold the property as an attribute instead of an element: both are read).

Reading is for files from anywhere: capped in size, parsed by expat (which refuses entity
expansion attacks since 2.4.1; ElementTree never fetches external entities), and anything that
is not a well-formed packet counts as no request.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

NAMESPACE = "https://studio.invalid/xmp/1.0/"  # .invalid: reserved, never anyone else's
PROPERTY = f"{{{NAMESPACE}}}request"
SWEEP_PROPERTY = f"{{{NAMESPACE}}}sweep"  # a grid's sweep (studio.core.metadata.SWEEP_KEY)
MAX_XMP_BYTES = 1_000_000
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
# What XML 1.0 cannot hold, even as &#...; (json.dumps already escapes the controls below 0x20).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(json_text: str) -> str:
    """JSON text with the characters XML cannot hold (U+FFFE, U+FFFF, lone surrogates) written as
    JSON \\u escapes: the same JSON, in a packet every XML parser reads. Outside its strings JSON
    is ASCII, so each such character is inside a string, where the escape means the same."""
    return escape(_NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text))


def xmp_packet(request_json: str, sweep_json: str | None = None) -> bytes:
    """An XMP packet holding `request_json` as studio:request (and a grid's sweep as studio:sweep);
    both are JSON."""
    sweep = f"   <studio:sweep>{_xml_safe(sweep_json)}</studio:sweep>\n" if sweep_json else ""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f' <rdf:RDF xmlns:rdf="{_RDF}">\n'
        f'  <rdf:Description rdf:about="" xmlns:studio="{NAMESPACE}">\n'
        f"   <studio:request>{_xml_safe(request_json)}</studio:request>\n"
        f"{sweep}"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    ).encode()


def request_from_xmp(packet: object, name: str = PROPERTY) -> str | None:
    """The studio:request text (or the property `name`) of an XMP packet, or None when there is
    none or it is unreadable."""
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "replace")
    if not isinstance(packet, bytes | bytearray) or not packet or len(packet) > MAX_XMP_BYTES:
        return None
    try:
        root = ET.fromstring(bytes(packet))
    except (ET.ParseError, ValueError):
        return None
    for element in root.iter():
        if element.tag == name and element.text:
            return element.text
        value = element.attrib.get(name)
        if value:
            return value
    return None
