"""Errors of the certificate-type registry: they name types and fields, never values."""

from __future__ import annotations

from pathlib import Path

from certlib.errors import ConfigurationError, InputError


class FieldError(InputError):
    """A certificate's data is wrong in one field; `field` names it, the value is never shown."""

    code = "INVALID_FIELD"

    def __init__(self, message: str, *, type_id: str, field: str) -> None:
        super().__init__(f"{type_id}: field {field!r}: {message}")
        self.type_id = type_id
        self.field = field


class UnknownField(FieldError):
    """The data holds a field the certificate type does not define."""

    code = "UNKNOWN_FIELD"


class MissingField(FieldError):
    """A required field is absent or empty."""

    code = "MISSING_FIELD"


class InvalidFieldValue(FieldError):
    """A field's value has the wrong type, form, length, range or check character."""

    code = "INVALID_FIELD_VALUE"


class InconsistentFields(InputError):
    """Two fields contradict each other (e.g. the birth date and the ID number)."""

    code = "INCONSISTENT_FIELDS"

    def __init__(self, message: str, *, type_id: str, fields: tuple[str, ...]) -> None:
        names = ", ".join(repr(name) for name in fields)
        super().__init__(f"{type_id}: fields {names}: {message}")
        self.type_id = type_id
        self.fields = fields


class UnknownCertificateType(InputError):
    """No certificate type of that id or code is registered."""

    code = "UNKNOWN_CERTIFICATE_TYPE"


class UnknownProfile(InputError):
    """The certificate type has no disclosure profile of that name."""

    code = "UNKNOWN_DISCLOSURE_PROFILE"


class TypeDefinitionError(ConfigurationError):
    """A certificate-type file is malformed; `path` names the file."""

    code = "INVALID_TYPE_DEFINITION"

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"certificate type file {path}: {message}")
        self.path = Path(path)
