"""No XML is parsed outside ingest/safexml.py (the one hardened parser module).

Every ``.py`` file of the project outside ``.venv`` and ``tests`` is read as a
syntax tree (so comments and docstrings do not count) and any call path to an
lxml or standard-library XML parser is reported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Files allowed to parse XML, with why. parse_trusted_file (our own XSD/XSLT artefacts) lives in safexml too.
WHITELIST = {
    "ingest/safexml.py": "the hardened parser: parse_xml (documents), parse_trusted_file (own artefacts)",
}
SKIP_DIRS = {".venv", "tests", "var", "build", "dist", "node_modules", "__pycache__"}
FORBIDDEN_LXML = {
    "fromstring",
    "fromstringlist",
    "parse",
    "XML",
    "XMLID",
    "iterparse",
    "iterwalk",
    "XMLPullParser",
    "XMLParser",
    "HTML",
    "HTMLParser",
    "ETCompatXMLParser",
}
FORBIDDEN_MODULES = ("lxml.objectify", "xml.etree", "xml.dom", "xml.sax", "xml.parsers")


def violations(source: str, filename: str = "<src>") -> list[str]:
    """Stray XML parsing in one module's source: 'line: what'."""
    tree = ast.parse(source, filename=filename)
    etree_names: set[str] = set()
    lxml_names: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lxml.etree" and alias.asname:
                    etree_names.add(alias.asname)
                elif alias.name.startswith("lxml"):
                    lxml_names.add(alias.asname or "lxml")
                if alias.name.startswith(FORBIDDEN_MODULES):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            if node.module == "lxml":
                etree_names |= {a.asname or a.name for a in node.names if a.name == "etree"}
                if "objectify" in names:
                    found.append(f"{node.lineno}: from lxml import objectify")
            elif node.module == "lxml.etree" and names & FORBIDDEN_LXML:
                found.append(
                    f"{node.lineno}: from lxml.etree import {', '.join(sorted(names & FORBIDDEN_LXML))}"
                )
            if node.module.startswith(FORBIDDEN_MODULES) or node.module in ("xml", "lxml.objectify"):
                found.append(f"{node.lineno}: from {node.module} import ...")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_LXML:
            value = node.value
            if isinstance(value, ast.Name) and value.id in etree_names:
                found.append(f"{node.lineno}: {value.id}.{node.attr}")
            elif (
                isinstance(value, ast.Attribute)
                and value.attr == "etree"
                and isinstance(value.value, ast.Name)
                and value.value.id in lxml_names
            ):
                found.append(f"{node.lineno}: lxml.etree.{node.attr}")
        if isinstance(node, ast.Attribute) and node.attr == "objectify":
            found.append(f"{node.lineno}: .objectify")
    return found


def project_files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        out.append(path)
    return sorted(out)


def test_no_xml_parsing_outside_safexml() -> None:
    files = project_files()
    assert any(p.relative_to(ROOT).as_posix() == "ingest/safexml.py" for p in files)
    stray = {}
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel in WHITELIST:
            continue
        found = violations(path.read_text(encoding="utf-8"), rel)
        if found:
            stray[rel] = found
    assert stray == {}, f"XML parsed outside ingest/safexml.py: {stray}"


def test_safexml_is_where_the_parsing_is() -> None:
    assert violations((ROOT / "ingest/safexml.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "source",
    [
        "from lxml import etree\netree.fromstring(b'<a/>')",
        "from lxml import etree as ET\nET.parse('x.xml')",
        "import lxml.etree as LE\nLE.XML('<a/>')",
        "import lxml.etree\nlxml.etree.iterparse('x')",
        "from lxml.etree import fromstring",
        "from lxml import objectify",
        "import xml.etree.ElementTree as ET",
        "from xml.dom import minidom",
        "from lxml import etree\np = etree.XMLParser(resolve_entities=True)",
    ],
)
def test_the_checker_catches(source: str) -> None:
    assert violations(source)


def test_the_checker_lets_through() -> None:
    ok = (
        "from lxml import etree\n'''etree.fromstring in a docstring'''\n"
        "# etree.parse\netree.QName('a').localname\n"
    )
    assert violations(ok) == []
