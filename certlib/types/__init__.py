"""Certificate types as data: one TOML file per type, loaded into a `TypeRegistry`.

certlib ships a file per type in this package (`resident-id-card.toml`, ...).
Administrators add or replace types without code by dropping files into
`<CERTLIB_HOME>/types/` or another directory given to `load_types(extra_dirs=...)`;
a file whose `id` equals a bundled one replaces it.

Type codes (GB/T 36904 证照类型代码) are 21 characters: the USCC of the defining
authority and a three-digit serial. Where the official code is known the file says
`[code] kind = "official", value = "..."`; elsewhere it says `kind = "local",
serial = "NNN"` and the code is the *local* defining authority's USCC plus that serial.
That USCC comes from `load_types(local_authority=...)`, else the environment variable
`CERTLIB_LOCAL_TYPE_AUTHORITY`, else the placeholder `11000000000000000U` (check-digit
valid, region 000000, obviously not a real body); `CertificateType.code_is_placeholder`
tells when the placeholder is in use, and no production deployment should issue with it.

A type file (schema 1):

```toml
schema = 1
id = "resident-id-card"              # = the file name without .toml
name_zh = "居民身份证"
name_en = "Resident Identity Card"
holder_kind = "person"                # or "organisation"
holder_field = "id_number"            # a required id_number (person) / uscc (organisation) field
# validity = { from = "valid_from", until = "valid_until" }   # the default when those exist

[code]
kind = "official"                     # or kind = "local", serial = "001"
value = "11100000000013127D001"
defining_authority_zh = "公安部"

[fields.name]                         # fields in the order they are listed
type = "string"                       # see certlib.types.fields for kinds and canonical forms
label_zh = "姓名"
label_en = "Name"
required = true
personal = true                       # default true: fields are personal unless said otherwise
max_length = 60

[[checks]]                            # date_order | id_number_birth_date | id_number_sex
kind = "date_order"
earlier = "valid_from"
later = "valid_until"

[profiles.default]                    # required: the short profile for a phone QR code
fields = ["name", "id_number"]
purpose_zh = "亮证"
```

Per-kind field keys: string `min_length max_length pattern multiline`; date `open_ended
not_in_future`; integer `min max`; decimal `min max scale`; boolean `derive = {age_over
= 18, from = "birth_date"}`; enum `choices = [{value, label_zh, label_en, aliases}]`;
region `known_region = require|warn|ignore`; id_number and uscc `check_digit =
reject|warn` (defaults: reject for ID numbers, warn for USCCs, whose pilot codes are
legal yet fail); binary `max_bytes`. Unknown keys are errors, so typos surface.

`validity` names the date fields that bound the certificate's own validity
(`CertificateType.validity`, a (from, until) pair of field names or None); without it,
fields called `valid_from` / `valid_until` are used when the type has them. `长期` in the
until field means no end.
"""

from certlib.types.errors import (
    FieldError,
    InconsistentFields,
    InvalidFieldValue,
    MissingField,
    TypeDefinitionError,
    UnknownCertificateType,
    UnknownField,
    UnknownProfile,
)
from certlib.types.fields import (
    FIELD_KINDS,
    LONG_TERM,
    Choice,
    FieldKind,
    FieldSpec,
    parse_canonical_date,
)
from certlib.types.registry import (
    DEFAULT_PROFILE,
    LOCAL_AUTHORITY_ENV,
    PLACEHOLDER_LOCAL_AUTHORITY,
    CertificateType,
    ConsistencyCheck,
    DisclosureProfile,
    TypeRegistry,
    ValidatedData,
    bundled_type_files,
    load_type_file,
    load_types,
    resolve_local_authority,
)

__all__ = [
    "DEFAULT_PROFILE",
    "FIELD_KINDS",
    "LOCAL_AUTHORITY_ENV",
    "LONG_TERM",
    "PLACEHOLDER_LOCAL_AUTHORITY",
    "CertificateType",
    "Choice",
    "ConsistencyCheck",
    "DisclosureProfile",
    "FieldError",
    "FieldKind",
    "FieldSpec",
    "InconsistentFields",
    "InvalidFieldValue",
    "MissingField",
    "TypeDefinitionError",
    "TypeRegistry",
    "UnknownCertificateType",
    "UnknownField",
    "UnknownProfile",
    "ValidatedData",
    "bundled_type_files",
    "load_type_file",
    "load_types",
    "parse_canonical_date",
    "resolve_local_authority",
]
