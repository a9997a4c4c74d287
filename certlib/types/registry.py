"""Certificate types loaded from TOML files, and the registry that holds them.

`CertificateType.validate(data, on=...)` rejects fields the type does not define
(UnknownField) and missing required ones (MissingField); None and blank strings count as
absent. Each value is brought to its canonical string (certlib.types.fields) or
rejected (InvalidFieldValue). Derived fields such as `age_over_18` are computed from the
birth date when absent and checked when given; `on` (default today) is the date for
future-date and age checks. Cross-field checks then run (InconsistentFields). Errors
name the type and field, never a value; warnings (a pilot USCC's check character, a
region code not in the bundled list) come back in `ValidatedData.warnings`.

`load_types` reads the bundled files, then `<home>/types/*.toml` when `home` is given
and that directory exists, then each of `extra_dirs` (which must exist). Files whose
names start with `.` or `_` are skipped. A later file with the same id replaces an
earlier one: that is how an administrator gives a local type its official code. Two
types with one code are an error naming both files.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from certlib import ids
from certlib.errors import ConfigurationError, InputError
from certlib.types.errors import (
    InconsistentFields,
    MissingField,
    TypeDefinitionError,
    UnknownCertificateType,
    UnknownField,
    UnknownProfile,
)
from certlib.types.fields import (
    FIELD_KINDS,
    LONG_TERM,
    AgeOver,
    Choice,
    FieldKind,
    FieldSpec,
    age_on,
)

SCHEMA_VERSION = 1
PLACEHOLDER_LOCAL_AUTHORITY = "11000000000000000U"
LOCAL_AUTHORITY_ENV = "CERTLIB_LOCAL_TYPE_AUTHORITY"
HOME_TYPES_DIR = "types"
DEFAULT_PROFILE = "default"

HolderKind = Literal["person", "organisation"]
CodeKind = Literal["official", "local"]
CheckKind = Literal["date_order", "id_number_birth_date", "id_number_sex"]

_TYPE_ID = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*")
_PROFILE_NAME = _TYPE_ID
_SERIAL = re.compile(r"[0-9]{3}")
_HOLDER_KINDS: dict[str, FieldKind] = {"person": "id_number", "organisation": "uscc"}

_TOP_KEYS = frozenset(
    {
        "schema",
        "id",
        "name_zh",
        "name_en",
        "description",
        "holder_kind",
        "holder_field",
        "code",
        "fields",
        "checks",
        "profiles",
        "validity",
    }
)
_COMMON_FIELD_KEYS = frozenset(
    {"type", "label_zh", "label_en", "required", "personal", "description"}
)
_KIND_KEYS: dict[str, frozenset[str]] = {
    "string": frozenset({"min_length", "max_length", "pattern", "multiline"}),
    "date": frozenset({"open_ended", "not_in_future"}),
    "time": frozenset(),
    "integer": frozenset({"min", "max"}),
    "decimal": frozenset({"min", "max", "scale"}),
    "boolean": frozenset({"derive"}),
    "enum": frozenset({"choices"}),
    "region": frozenset({"known_region"}),
    "id_number": frozenset({"check_digit"}),
    "uscc": frozenset({"check_digit"}),
    "binary": frozenset({"max_bytes"}),
}
_CHECK_KEYS: dict[str, tuple[tuple[str, FieldKind], tuple[str, FieldKind]]] = {
    "date_order": (("earlier", "date"), ("later", "date")),
    "id_number_birth_date": (("id_number", "id_number"), ("birth_date", "date")),
    "id_number_sex": (("id_number", "id_number"), ("sex", "enum")),
}


@dataclass(frozen=True)
class DisclosureProfile:
    """A named set of fields to disclose for a purpose (e.g. `age-check`)."""

    name: str
    fields: tuple[str, ...]
    purpose_zh: str | None = None
    purpose_en: str | None = None


@dataclass(frozen=True)
class ConsistencyCheck:
    """A rule tying two fields together; `fields` in the order the kind names them."""

    kind: CheckKind
    fields: tuple[str, str]


@dataclass(frozen=True, eq=False)
class ValidatedData:
    """A certificate's data in canonical form, in the type's field order, plus warnings.

    Its repr shows field names only, so logging it does not leak personal data.
    """

    type_id: str
    values: Mapping[str, str] = field(repr=False)
    holder_id: str = field(repr=False)
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"ValidatedData(type_id={self.type_id!r}, fields={list(self.values)!r}, "
            f"warnings={self.warnings!r})"
        )


@dataclass(frozen=True, eq=False)
class CertificateType:
    """A certificate type: code, names, holder, fields, checks and disclosure profiles."""

    id: str
    name_zh: str
    name_en: str
    holder_kind: HolderKind
    holder_field: str
    code: str
    code_kind: CodeKind
    fields: Mapping[str, FieldSpec]
    profiles: Mapping[str, DisclosureProfile]
    checks: tuple[ConsistencyCheck, ...] = ()
    code_is_placeholder: bool = False
    validity: tuple[str | None, str | None] = (None, None)
    defining_authority_zh: str | None = None
    description: str | None = None
    source: Path | None = field(default=None, compare=False)

    @property
    def required_fields(self) -> tuple[str, ...]:
        """Names of the fields every certificate of this type must have."""
        return tuple(name for name, spec in self.fields.items() if spec.required)

    @property
    def personal_fields(self) -> tuple[str, ...]:
        """Names of the fields that hold personal data."""
        return tuple(name for name, spec in self.fields.items() if spec.personal)

    def field(self, name: str) -> FieldSpec:
        """The field of that name; UnknownField if there is none."""
        try:
            return self.fields[name]
        except KeyError:
            raise UnknownField("not defined", type_id=self.id, field=_shown(name)) from None

    def profile(self, name: str = DEFAULT_PROFILE) -> DisclosureProfile:
        """The disclosure profile of that name; UnknownProfile if there is none."""
        try:
            return self.profiles[name]
        except KeyError:
            raise UnknownProfile(
                f"{self.id}: no disclosure profile {_shown(name)!r} "
                f"(known: {', '.join(self.profiles)})"
            ) from None

    def validate(self, data: Mapping[str, object], *, on: date | None = None) -> ValidatedData:
        """Check `data` against the type and return its canonical values (see the module doc)."""
        if not isinstance(data, Mapping):
            raise InputError(f"{self.id}: certificate data must be a mapping of field names")
        for key in data:
            if not isinstance(key, str) or key not in self.fields:
                raise UnknownField(
                    "not defined by the certificate type", type_id=self.id, field=_shown(key)
                )
        today = on or date.today()
        values: dict[str, str] = {}
        warnings: list[str] = []
        for name, spec in self.fields.items():
            value = data.get(name)
            if _absent(value):
                continue
            text, found = spec.canonical(value, on=today)
            values[name] = text
            warnings.extend(f"{name}: {warning}" for warning in found)
        self._derive(values, today)
        for name, spec in self.fields.items():
            if spec.required and name not in values:
                raise MissingField("is required", type_id=self.id, field=name)
        for check in self.checks:
            _run_check(self.id, check, values)
        ordered = {name: values[name] for name in self.fields if name in values}
        return ValidatedData(
            type_id=self.id,
            values=MappingProxyType(ordered),
            holder_id=values[self.holder_field],
            warnings=tuple(warnings),
        )

    def _derive(self, values: dict[str, str], today: date) -> None:
        for name, spec in self.fields.items():
            if spec.derive is None or spec.derive.source not in values:
                continue
            age = age_on(date.fromisoformat(values[spec.derive.source]), today)
            derived = "true" if age >= spec.derive.years else "false"
            if name not in values:
                values[name] = derived
            elif values[name] != derived:
                raise InconsistentFields(
                    "the derived value does not follow from the birth date",
                    type_id=self.id,
                    fields=(name, spec.derive.source),
                )


_SHOWABLE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def _shown(key: object) -> str:
    """A caller-supplied field or profile name, made safe to show."""
    text = key if isinstance(key, str) else type(key).__name__
    return text if _SHOWABLE.fullmatch(text) else "<invalid name>"


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _run_check(type_id: str, check: ConsistencyCheck, values: Mapping[str, str]) -> None:
    first, second = check.fields
    if first not in values or second not in values:
        return
    a, b = values[first], values[second]
    if check.kind == "date_order":
        if b != LONG_TERM and (a == LONG_TERM or date.fromisoformat(a) > date.fromisoformat(b)):
            raise InconsistentFields(
                "the first date lies after the second", type_id=type_id, fields=check.fields
            )
    elif check.kind == "id_number_birth_date":
        if ids.id_number_birth_date(a).isoformat() != b:
            raise InconsistentFields(
                "the birth date differs from the one in the ID number",
                type_id=type_id,
                fields=check.fields,
            )
    elif ids.id_number_sex(a) != b:
        raise InconsistentFields(
            "the sex differs from the one in the ID number", type_id=type_id, fields=check.fields
        )


# -- loading -----------------------------------------------------------------------------------


class _Reader:
    """Reads one parsed TOML document, raising TypeDefinitionError that names the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, message: str) -> TypeDefinitionError:
        return TypeDefinitionError(self.path, message)

    def table(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{where} must be a table")
        return cast(dict[str, Any], value)

    def keys(self, table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise self.fail(f"{where}: unknown key(s) {', '.join(unknown)}")

    def text(self, table: Mapping[str, Any], key: str, where: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key} must be a non-empty string")
        return value

    def optional_text(self, table: Mapping[str, Any], key: str, where: str) -> str | None:
        return None if key not in table else self.text(table, key, where)

    def flag(self, table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key} must be true or false")
        return value

    def count(self, table: Mapping[str, Any], key: str, where: str) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(f"{where}.{key} must be a non-negative integer")
        return value

    def number(self, table: Mapping[str, Any], key: str, where: str) -> Decimal | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(f"{where}.{key} must be a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(f"{where}.{key} must be a number") from None
        if not number.is_finite():
            raise self.fail(f"{where}.{key} must be finite")
        return number

    def names(self, value: object, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(f"{where} must be a list of strings")
        return tuple(cast(list[str], value))


def _parse_choices(reader: _Reader, value: object, where: str) -> tuple[Choice, ...]:
    if not isinstance(value, list) or not value:
        raise reader.fail(f"{where}.choices must be a non-empty list of tables")
    choices: list[Choice] = []
    for index, item in enumerate(value):
        at = f"{where}.choices[{index}]"
        entry = reader.table(item, at)
        reader.keys(entry, ("value", "label_zh", "label_en", "aliases"), at)
        choices.append(
            Choice(
                value=reader.text(entry, "value", at),
                label_zh=reader.text(entry, "label_zh", at),
                label_en=reader.optional_text(entry, "label_en", at),
                aliases=reader.names(entry.get("aliases", []), f"{at}.aliases"),
            )
        )
    seen: set[str] = set()
    for choice in choices:
        names = {
            name.lower() if name.isascii() else name
            for name in (choice.value, choice.label_zh, choice.label_en, *choice.aliases)
            if name
        }
        clash = sorted(names & seen)
        if clash:
            raise reader.fail(f"{where}.choices: {clash[0]!r} names two different values")
        seen |= names
    return tuple(choices)


def _parse_field(reader: _Reader, type_id: str, name: str, raw: object) -> FieldSpec:
    where = f"fields.{name}"
    if not _FIELD_NAME.fullmatch(name) or len(name) > 64:
        raise reader.fail(f"{where}: field names are lower case letters, digits and _")
    table = reader.table(raw, where)
    kind = table.get("type")
    if kind not in FIELD_KINDS:
        raise reader.fail(f"{where}.type must be one of {', '.join(FIELD_KINDS)}")
    kind = cast(FieldKind, kind)
    reader.keys(table, _COMMON_FIELD_KEYS | _KIND_KEYS[kind], where)
    pattern = reader.optional_text(table, "pattern", where)
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as error:
            raise reader.fail(f"{where}.pattern is not a regular expression: {error}") from None
    check_digit = table.get("check_digit", "warn" if kind == "uscc" else "reject")
    if check_digit not in ("reject", "warn"):
        raise reader.fail(f"{where}.check_digit must be 'reject' or 'warn'")
    known_region = table.get("known_region", "warn")
    if known_region not in ("require", "warn", "ignore"):
        raise reader.fail(f"{where}.known_region must be 'require', 'warn' or 'ignore'")
    scale = reader.count(table, "scale", where)
    derive: AgeOver | None = None
    if "derive" in table:
        spec = reader.table(table["derive"], f"{where}.derive")
        reader.keys(spec, ("age_over", "from"), f"{where}.derive")
        years = reader.count(spec, "age_over", f"{where}.derive")
        if years is None:
            raise reader.fail(f"{where}.derive.age_over is required")
        derive = AgeOver(years=years, source=reader.text(spec, "from", f"{where}.derive"))
    return FieldSpec(
        type_id=type_id,
        name=name,
        kind=kind,
        label_zh=reader.text(table, "label_zh", where),
        label_en=reader.text(table, "label_en", where),
        required=reader.flag(table, "required", where, False),
        personal=reader.flag(table, "personal", where, True),
        description=reader.optional_text(table, "description", where),
        min_length=reader.count(table, "min_length", where),
        max_length=reader.count(table, "max_length", where),
        pattern=pattern,
        multiline=reader.flag(table, "multiline", where, False),
        choices=_parse_choices(reader, table.get("choices"), where) if kind == "enum" else (),
        minimum=reader.number(table, "min", where),
        maximum=reader.number(table, "max", where),
        scale=scale,
        open_ended=reader.flag(table, "open_ended", where, False),
        not_in_future=reader.flag(table, "not_in_future", where, False),
        check_digit=check_digit,
        known_region=known_region,
        max_bytes=reader.count(table, "max_bytes", where),
        derive=derive,
    )


def _parse_code(
    reader: _Reader, raw: object, local_authority: str
) -> tuple[str, CodeKind, bool, str | None]:
    table = reader.table(raw, "code")
    kind = table.get("kind")
    authority_name = reader.optional_text(table, "defining_authority_zh", "code")
    if kind == "official":
        reader.keys(table, ("kind", "value", "defining_authority_zh"), "code")
        value = reader.text(table, "value", "code")
        if not re.fullmatch(r"[0-9A-Z]{18}[0-9]{3}", value) or not ids.is_valid_uscc(value[:18]):
            raise reader.fail(
                "code.value must be a 21-character type code: a valid USCC of the defining "
                "authority and a three-digit serial"
            )
        return value, "official", False, authority_name
    if kind == "local":
        reader.keys(table, ("kind", "serial", "defining_authority_zh"), "code")
        serial = reader.text(table, "serial", "code")
        if not _SERIAL.fullmatch(serial):
            raise reader.fail("code.serial must be three digits")
        placeholder = local_authority == PLACEHOLDER_LOCAL_AUTHORITY
        return local_authority + serial, "local", placeholder, authority_name
    raise reader.fail("code.kind must be 'official' or 'local'")


def _parse_check(
    reader: _Reader, index: int, raw: object, fields: Mapping[str, FieldSpec]
) -> ConsistencyCheck:
    where = f"checks[{index}]"
    table = reader.table(raw, where)
    kind = table.get("kind")
    if kind not in _CHECK_KEYS:
        raise reader.fail(f"{where}.kind must be one of {', '.join(_CHECK_KEYS)}")
    roles = _CHECK_KEYS[kind]
    reader.keys(table, ("kind", *(role for role, _ in roles)), where)
    names: list[str] = []
    for role, wanted in roles:
        name = reader.text(table, role, where)
        if name not in fields or fields[name].kind != wanted:
            raise reader.fail(f"{where}.{role} must name a {wanted} field of the type")
        names.append(name)
    if kind == "id_number_sex":
        values = {choice.value for choice in fields[names[1]].choices}
        if not values <= {"1", "2", "0", "9"}:
            raise reader.fail(f"{where}: the sex field must use GB/T 2261.1 codes")
    return ConsistencyCheck(kind=cast(CheckKind, kind), fields=(names[0], names[1]))


def _parse_profiles(
    reader: _Reader, raw: object, fields: Mapping[str, FieldSpec]
) -> dict[str, DisclosureProfile]:
    table = reader.table(raw, "profiles")
    profiles: dict[str, DisclosureProfile] = {}
    for name, value in table.items():
        where = f"profiles.{name}"
        if not _PROFILE_NAME.fullmatch(name):
            raise reader.fail(f"{where}: profile names are lower case words joined by -")
        entry = reader.table(value, where)
        reader.keys(entry, ("fields", "purpose_zh", "purpose_en"), where)
        names = reader.names(entry.get("fields"), f"{where}.fields")
        if not names or len(set(names)) != len(names):
            raise reader.fail(f"{where}.fields must be a non-empty list without duplicates")
        for field_name in names:
            if field_name not in fields:
                raise reader.fail(f"{where}.fields names an undefined field {field_name!r}")
        profiles[name] = DisclosureProfile(
            name=name,
            fields=names,
            purpose_zh=reader.optional_text(entry, "purpose_zh", where),
            purpose_en=reader.optional_text(entry, "purpose_en", where),
        )
    if DEFAULT_PROFILE not in profiles:
        raise reader.fail(f"profiles.{DEFAULT_PROFILE} is required")
    return profiles


def _parse_validity(
    reader: _Reader, raw: object, fields: Mapping[str, FieldSpec]
) -> tuple[str | None, str | None]:
    if raw is None:
        return (
            "valid_from" if "valid_from" in fields else None,
            "valid_until" if "valid_until" in fields else None,
        )
    table = reader.table(raw, "validity")
    reader.keys(table, ("from", "until"), "validity")
    chosen: list[str | None] = []
    for key in ("from", "until"):
        name = reader.optional_text(table, key, "validity")
        if name is not None and (name not in fields or fields[name].kind != "date"):
            raise reader.fail(f"validity.{key} must name a date field")
        chosen.append(name)
    if chosen[0] is not None and fields[chosen[0]].open_ended:
        raise reader.fail("validity.from must not be open-ended")
    return chosen[0], chosen[1]


def parse_type(document: Mapping[str, Any], path: Path, local_authority: str) -> CertificateType:
    """Build a CertificateType from a parsed TOML document; TypeDefinitionError names `path`."""
    reader = _Reader(path)
    reader.keys(document, _TOP_KEYS, "top level")
    if document.get("schema") != SCHEMA_VERSION:
        raise reader.fail(f"schema must be {SCHEMA_VERSION}")
    type_id = reader.text(document, "id", "top level")
    if not _TYPE_ID.fullmatch(type_id) or len(type_id) > 64:
        raise reader.fail("id must be lower case words joined by -")
    if type_id != path.stem:
        raise reader.fail(f"id {type_id!r} must equal the file name without .toml")
    raw_fields = reader.table(document.get("fields"), "fields")
    if not raw_fields:
        raise reader.fail("fields must define at least one field")
    fields = {
        name: _parse_field(reader, type_id, name, value) for name, value in raw_fields.items()
    }
    for name, spec in fields.items():
        if spec.derive is not None:
            source = fields.get(spec.derive.source)
            if source is None or source.kind != "date" or source.open_ended:
                raise reader.fail(
                    f"fields.{name}.derive.from must name a date field (not open-ended)"
                )
    holder_kind = document.get("holder_kind")
    if holder_kind not in _HOLDER_KINDS:
        raise reader.fail("holder_kind must be 'person' or 'organisation'")
    holder_field = reader.text(document, "holder_field", "top level")
    holder = fields.get(holder_field)
    wanted = _HOLDER_KINDS[holder_kind]
    if holder is None or holder.kind != wanted or not holder.required:
        raise reader.fail(f"holder_field must name a required {wanted} field")
    raw_checks = document.get("checks", [])
    if not isinstance(raw_checks, list):
        raise reader.fail("checks must be an array of tables")
    code, code_kind, placeholder, authority = _parse_code(
        reader, document.get("code"), local_authority
    )
    return CertificateType(
        id=type_id,
        name_zh=reader.text(document, "name_zh", "top level"),
        name_en=reader.text(document, "name_en", "top level"),
        holder_kind=cast(HolderKind, holder_kind),
        holder_field=holder_field,
        code=code,
        code_kind=code_kind,
        fields=MappingProxyType(fields),
        profiles=MappingProxyType(_parse_profiles(reader, document.get("profiles"), fields)),
        checks=tuple(
            _parse_check(reader, index, raw, fields) for index, raw in enumerate(raw_checks)
        ),
        code_is_placeholder=placeholder,
        validity=_parse_validity(reader, document.get("validity"), fields),
        defining_authority_zh=authority,
        description=reader.optional_text(document, "description", "top level"),
        source=path,
    )


def load_type_file(path: Path | str, *, local_authority: str | None = None) -> CertificateType:
    """Load one certificate-type TOML file."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TypeDefinitionError(path, f"cannot be read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise TypeDefinitionError(path, "is not UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise TypeDefinitionError(path, f"is not valid TOML: {error}") from None
    return parse_type(document, path, resolve_local_authority(local_authority))


def resolve_local_authority(local_authority: str | None = None) -> str:
    """The USCC behind local type codes: argument, $CERTLIB_LOCAL_TYPE_AUTHORITY, placeholder."""
    value = local_authority or os.environ.get(LOCAL_AUTHORITY_ENV) or PLACEHOLDER_LOCAL_AUTHORITY
    if not ids.is_valid_uscc(value) or value != value.strip().upper():
        raise ConfigurationError(
            "the local type-defining authority must be a valid 18-character unified social "
            f"credit code (argument or {LOCAL_AUTHORITY_ENV})"
        )
    return value


class TypeRegistry:
    """Certificate types by id and by GB/T 36904 type code."""

    def __init__(self, types: Iterable[CertificateType]) -> None:
        self._by_id: dict[str, CertificateType] = {}
        self._by_code: dict[str, CertificateType] = {}
        for certificate_type in types:
            if certificate_type.id in self._by_id:
                raise ConfigurationError(f"certificate type {certificate_type.id} is defined twice")
            other = self._by_code.get(certificate_type.code)
            if other is not None:
                raise TypeDefinitionError(
                    certificate_type.source or certificate_type.id,
                    f"type code is already used by {other.id} ({other.source})",
                )
            self._by_id[certificate_type.id] = certificate_type
            self._by_code[certificate_type.code] = certificate_type

    def get(self, type_id: str) -> CertificateType:
        """The type with that id (e.g. `resident-id-card`); UnknownCertificateType if none."""
        try:
            return self._by_id[type_id]
        except (KeyError, TypeError):
            raise UnknownCertificateType(
                f"no certificate type {_shown_id(type_id)!r} is registered"
            ) from None

    def by_code(self, code: str) -> CertificateType:
        """The type with that GB/T 36904 type code; UnknownCertificateType if none."""
        try:
            return self._by_code[code]
        except (KeyError, TypeError):
            raise UnknownCertificateType("no certificate type has that type code") from None

    def ids(self) -> tuple[str, ...]:
        """Every registered type id, sorted."""
        return tuple(sorted(self._by_id))

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._by_id

    def __iter__(self) -> Iterator[CertificateType]:
        return iter(self._by_id[type_id] for type_id in self.ids())

    def __len__(self) -> int:
        return len(self._by_id)


def _shown_id(type_id: object) -> str:
    if isinstance(type_id, str) and _TYPE_ID.fullmatch(type_id) and len(type_id) <= 64:
        return type_id
    return "<invalid id>"


def _type_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigurationError(f"certificate type directory {directory} does not exist")
    return sorted(path for path in directory.glob("*.toml") if not path.name.startswith((".", "_")))


def bundled_type_files() -> list[Path]:
    """The type files that ship with certlib."""
    root = resources.files("certlib.types")
    return sorted(
        Path(str(entry))
        for entry in root.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    )


def load_types(
    extra_dirs: Iterable[Path | str] = (),
    *,
    home: Path | str | None = None,
    local_authority: str | None = None,
) -> TypeRegistry:
    """The bundled types, then `<home>/types/*.toml`, then each extra directory's; later wins."""
    authority = resolve_local_authority(local_authority)
    files = bundled_type_files()
    if home is not None:
        home_dir = Path(home).expanduser() / HOME_TYPES_DIR
        if home_dir.is_dir():
            files += _type_files(home_dir)
    for directory in extra_dirs:
        files += _type_files(Path(directory))
    chosen: dict[str, CertificateType] = {}
    for path in files:
        certificate_type = load_type_file(path, local_authority=authority)
        chosen[certificate_type.id] = certificate_type
    return TypeRegistry(chosen.values())
