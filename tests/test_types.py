"""The certificate-type registry: bundled types, canonical values, typed errors, admin files.

Every person below is fictitious (张三, 李四, 王五 are the Chinese placeholder names); their
ID numbers are made here with valid check characters.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certlib import ids
from certlib.errors import ConfigurationError, InputError
from certlib.types import (
    LONG_TERM,
    PLACEHOLDER_LOCAL_AUTHORITY,
    CertificateType,
    InconsistentFields,
    InvalidFieldValue,
    MissingField,
    TypeDefinitionError,
    TypeRegistry,
    UnknownCertificateType,
    UnknownField,
    UnknownProfile,
    bundled_type_files,
    load_type_file,
    load_types,
    parse_canonical_date,
)
from tests.samples import (
    BABY_MOTHER,
    COMPANY,
    LI_SI,
    ON,
    PHOTO,
    SAMPLES,
    WANG_WU,
    ZHANG_SAN,
)

PERSONAL_VALUES = (ZHANG_SAN, LI_SI, WANG_WU, BABY_MOTHER, "张三", "李四", "王五")


@pytest.fixture(scope="module")
def registry() -> TypeRegistry:
    return load_types()


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL_TYPE = """\
schema = 1
id = "{id}"
name_zh = "示例证照"
name_en = "Example certificate"
holder_kind = "person"
holder_field = "id_number"

[code]
kind = "local"
serial = "{serial}"

[fields.name]
type = "string"
label_zh = "姓名"
label_en = "Name"
required = true

[fields.id_number]
type = "id_number"
label_zh = "公民身份号码"
label_en = "Citizen identity number"
required = true

[profiles.default]
fields = ["name"]
"""


# -- the bundled types -----------------------------------------------------------------------


def test_every_required_type_is_bundled(registry: TypeRegistry) -> None:
    assert set(registry.ids()) >= set(SAMPLES)
    assert len(bundled_type_files()) == len(registry)


@pytest.mark.parametrize("type_id", sorted(SAMPLES))
def test_bundled_type_is_consistent(registry: TypeRegistry, type_id: str) -> None:
    certificate_type = registry.get(type_id)
    assert registry.by_code(certificate_type.code) is certificate_type
    assert len(certificate_type.code) == 21
    assert ids.is_valid_uscc(certificate_type.code[:18])
    holder = certificate_type.fields[certificate_type.holder_field]
    assert holder.required
    assert holder.kind == ("id_number" if certificate_type.holder_kind == "person" else "uscc")
    assert certificate_type.name_zh and certificate_type.name_en
    assert "default" in certificate_type.profiles
    for profile in certificate_type.profiles.values():
        assert set(profile.fields) <= set(certificate_type.fields)
    assert holder.personal == (certificate_type.holder_kind == "person")
    for spec in certificate_type.fields.values():
        if spec.kind in ("id_number", "binary"):
            assert spec.personal, spec.name


def test_type_codes(registry: TypeRegistry) -> None:
    card = registry.get("resident-id-card")
    assert card.code == "11100000000013127D001"
    assert card.code_kind == "official"
    assert not card.code_is_placeholder
    licence = registry.get("business-licence")
    assert licence.code_kind == "local"
    assert licence.code_is_placeholder
    assert licence.code.startswith(PLACEHOLDER_LOCAL_AUTHORITY)
    assert ids.is_valid_uscc(PLACEHOLDER_LOCAL_AUTHORITY)


def test_validity_fields(registry: TypeRegistry) -> None:
    assert registry.get("resident-id-card").validity == ("valid_from", "valid_until")
    assert registry.get("business-licence").validity == (
        "business_term_from",
        "business_term_until",
    )
    assert registry.get("social-security-card").validity == ("issue_date", "valid_until")
    assert registry.get("degree-certificate").validity == (None, None)


def test_required_field_sets(registry: TypeRegistry) -> None:
    card = registry.get("resident-id-card").fields
    for name in [
        "name", "sex", "ethnicity", "birth_date", "address", "id_number", "issuing_authority",
        "valid_from", "valid_until",
    ]:  # fmt: skip
        assert card[name].required
    licence = registry.get("business-licence").fields
    for name in [
        "uscc", "name", "entity_type", "legal_representative", "registered_capital",
        "established_date", "address", "business_scope", "registration_authority",
    ]:  # fmt: skip
        assert name in licence


@pytest.mark.parametrize("type_id", sorted(SAMPLES))
def test_sample_record_validates_and_is_canonical(registry: TypeRegistry, type_id: str) -> None:
    certificate_type = registry.get(type_id)
    validated = certificate_type.validate(SAMPLES[type_id], on=ON)
    assert validated.type_id == type_id
    assert set(validated.values) >= set(certificate_type.required_fields)
    assert list(validated.values) == [n for n in certificate_type.fields if n in validated.values]
    assert validated.holder_id == validated.values[certificate_type.holder_field]
    assert all(isinstance(value, str) for value in validated.values.values())
    # Canonical values validate to themselves.
    again = certificate_type.validate(dict(validated.values), on=ON)
    assert dict(again.values) == dict(validated.values)
    for name, value in validated.values.items():
        if certificate_type.fields[name].kind == "date":
            assert value == LONG_TERM or parse_canonical_date(value) is not None


def test_resident_id_card_canonical_values(registry: TypeRegistry) -> None:
    values = registry.get("resident-id-card").validate(SAMPLES["resident-id-card"], on=ON).values
    assert values["id_number"] == ZHANG_SAN
    assert values["sex"] == "1"
    assert values["ethnicity"] == "01"
    assert values["birth_date"] == "1985-06-15"
    assert values["valid_from"] == "2015-03-01"
    assert values["valid_until"] == "2035-03-01"
    assert base64.b64decode(values["photo"]) == PHOTO
    assert values["age_over_18"] == "true"
    assert values["age_over_60"] == "false"
    assert registry.get("resident-id-card").fields["ethnicity"].display("01") == "汉族"


def test_validated_data_repr_hides_values(registry: TypeRegistry) -> None:
    validated = registry.get("resident-id-card").validate(SAMPLES["resident-id-card"], on=ON)
    shown = repr(validated) + str(validated)
    assert "id_number" in shown
    for personal in PERSONAL_VALUES:
        assert personal not in shown
    assert ZHANG_SAN not in repr(ids.check_id_number(ZHANG_SAN))


def test_huge_numbers_are_rejected(registry: TypeRegistry) -> None:
    spec = registry.get("birth-certificate").fields["father_age"]
    with pytest.raises(InvalidFieldValue):
        spec.canonical(10**5000)
    with pytest.raises(InvalidFieldValue):
        spec.canonical("9" * 41)


def test_derived_age_follows_the_validation_date(registry: TypeRegistry) -> None:
    card = registry.get("resident-id-card")
    sample = SAMPLES["resident-id-card"]
    assert card.validate(sample, on=date(2003, 6, 14)).values["age_over_18"] == "false"
    assert card.validate(sample, on=date(2003, 6, 15)).values["age_over_18"] == "true"
    with pytest.raises(InconsistentFields) as caught:
        card.validate({**sample, "age_over_18": False}, on=ON)
    assert caught.value.fields == ("age_over_18", "birth_date")


def test_business_licence_canonical_values(registry: TypeRegistry) -> None:
    values = registry.get("business-licence").validate(SAMPLES["business-licence"], on=ON).values
    assert values["uscc"] == COMPANY
    assert values["registered_capital"] == "100.5"
    assert values["business_term_until"] == LONG_TERM
    assert "\r" not in values["business_scope"] and "\n" in values["business_scope"]


def test_pilot_uscc_warns_and_region_unknown_warns(registry: TypeRegistry) -> None:
    licence = registry.get("business-licence")
    validated = licence.validate({**SAMPLES["business-licence"], "uscc": "91350100M0001TGQXM"})
    assert validated.warnings == ("uscc: " + ids.WARN_USCC_CHECK,)
    card = registry.get("social-security-card")
    validated = card.validate({**SAMPLES["social-security-card"], "issuing_region": "110103"})
    assert validated.warnings == ("issuing_region: region code not in the bundled GB/T 2260 list",)


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("2024-02-29", "2024-02-29"),
        ("20240229", "2024-02-29"),
        ("2024.2.29", "2024-02-29"),
        ("2024/02/29", "2024-02-29"),
        ("2024年2月29日", "2024-02-29"),
        ("２０２４－０２－２９", "2024-02-29"),
        (date(2024, 2, 29), "2024-02-29"),
    ],
)
def test_date_forms(registry: TypeRegistry, value: object, canonical: str) -> None:
    spec = registry.get("resident-id-card").fields["valid_from"]
    assert spec.canonical(value) == (canonical, ())


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        (100, "100"),
        ("100.00", "100"),
        (Decimal("0100.50"), "100.5"),
        (100.5, "100.5"),
        ("0", "0"),
        ("-0.0", "0"),
        (1e16, "10000000000000000"),
        ("１２.５", "12.5"),
    ],
)
def test_decimal_forms(registry: TypeRegistry, value: object, canonical: str) -> None:
    spec = registry.get("business-licence").fields["registered_capital"]
    assert spec.canonical(value) == (canonical, ())


def test_other_kinds(registry: TypeRegistry) -> None:
    birth = registry.get("birth-certificate").fields
    assert birth["birth_time"].canonical("8:05") == ("08:05", ())
    assert birth["birth_time"].canonical("08:05:00") == ("08:05", ())
    assert birth["gestational_weeks"].canonical(39.0) == ("39", ())
    assert birth["gestational_weeks"].canonical("+039") == ("39", ())
    assert birth["birth_length_cm"].canonical("49.5") == ("49.5", ())
    card = registry.get("resident-id-card").fields
    assert card["age_over_18"].canonical("是") == ("true", ())
    assert card["photo"].canonical(base64.b64encode(PHOTO).decode()) == (
        base64.b64encode(PHOTO).decode(),
        (),
    )
    assert card["name"].canonical("  张三\u3000") == ("张三", ())


@pytest.mark.parametrize(
    ("type_id", "field", "value"),
    [
        ("resident-id-card", "birth_date", "1985-02-30"),
        ("resident-id-card", "birth_date", "2999-01-01"),  # in the future
        ("resident-id-card", "valid_from", "长期"),  # no open end
        ("resident-id-card", "sex", "X"),
        ("resident-id-card", "name", "张\x00三"),
        ("resident-id-card", "name", "张" * 61),
        ("resident-id-card", "name", 42),
        ("resident-id-card", "birth_date", "1985-06-15T00:00"),
        ("resident-id-card", "id_number", ZHANG_SAN[:17] + "0"),  # check digit: rejected
        ("resident-id-card", "id_number", ZHANG_SAN[:16]),
        ("resident-id-card", "photo", "not base64!"),
        ("resident-id-card", "age_over_18", "maybe"),
        ("vehicle-licence", "plate_number", "青I12345"),
        ("vehicle-licence", "vin", "LSVAB2BM0EN00000O"),
        ("vehicle-licence", "approved_passengers", True),
        ("vehicle-licence", "approved_passengers", 5.5),
        ("vehicle-licence", "approved_passengers", "-1"),
        ("birth-certificate", "birth_time", "24:00"),
        ("birth-certificate", "birth_length_cm", "49.55"),  # scale 1
        ("birth-certificate", "birth_length_cm", "1e2"),
        ("birth-certificate", "birth_region", "630012"),
        ("business-licence", "uscc", "9163010MA7FAKE00"),
        ("business-licence", "registered_capital", float("nan")),
        ("business-licence", "registered_capital", "-5"),
        ("driving-licence", "vehicle_classes", "C7"),
    ],
)
def test_bad_values_raise_typed_errors_naming_the_field(
    registry: TypeRegistry, type_id: str, field: str, value: object
) -> None:
    data = {**SAMPLES[type_id], field: value}
    with pytest.raises(InvalidFieldValue) as caught:
        registry.get(type_id).validate(data, on=ON)
    error = caught.value
    assert error.field == field
    assert error.type_id == type_id
    assert field in str(error)
    assert isinstance(error, InputError)
    if isinstance(value, str) and len(value) > 2:
        assert value not in str(error)
    for personal in PERSONAL_VALUES:
        assert personal not in str(error)


def test_unknown_and_missing_fields(registry: TypeRegistry) -> None:
    card = registry.get("resident-id-card")
    with pytest.raises(UnknownField) as unknown:
        card.validate({**SAMPLES["resident-id-card"], "nickname": "三儿"})
    assert unknown.value.field == "nickname"
    assert "三儿" not in str(unknown.value)
    with pytest.raises(UnknownField) as odd:
        card.validate({**SAMPLES["resident-id-card"], ZHANG_SAN: "x"})
    assert ZHANG_SAN not in str(odd.value)
    for name in ("address", "valid_until"):
        for absent in (None, "", "   "):
            with pytest.raises(MissingField) as missing:
                card.validate({**SAMPLES["resident-id-card"], name: absent})
            assert missing.value.field == name
    partial = dict(SAMPLES["resident-id-card"])
    del partial["photo"]
    assert "photo" not in card.validate(partial, on=ON).values
    with pytest.raises(InputError):
        card.validate([("name", "张三")])  # type: ignore[arg-type]


def test_cross_field_checks_name_fields_not_values(registry: TypeRegistry) -> None:
    card = registry.get("resident-id-card")
    sample = SAMPLES["resident-id-card"]
    cases = [
        ({"birth_date": "1985-06-16"}, ("id_number", "birth_date")),
        ({"sex": "女"}, ("id_number", "sex")),
        ({"valid_until": "2015-02-28"}, ("valid_from", "valid_until")),
    ]
    for change, fields in cases:
        with pytest.raises(InconsistentFields) as caught:
            card.validate({**sample, **change}, on=ON)
        assert caught.value.fields == fields
        for personal in PERSONAL_VALUES:
            assert personal not in str(caught.value)
    assert card.validate({**sample, "valid_until": "长期"}, on=ON).values["valid_until"] == "长期"


def test_profiles(registry: TypeRegistry) -> None:
    card = registry.get("resident-id-card")
    assert card.profile().fields == ("name", "id_number")
    assert card.profile("age-check").fields == ("age_over_18",)
    assert set(card.profile("identity").fields) >= {"name", "id_number", "birth_date"}
    assert "tender" in registry.get("business-licence").profiles
    with pytest.raises(UnknownProfile):
        card.profile("everything")


def test_unknown_types(registry: TypeRegistry) -> None:
    with pytest.raises(UnknownCertificateType):
        registry.get("passport")
    with pytest.raises(UnknownCertificateType):
        registry.by_code("11100000000013127D999")


# -- administrators' files ---------------------------------------------------------------------


def test_admin_type_in_an_extra_directory_is_picked_up(tmp_path: Path) -> None:
    _write(tmp_path, "fishing-licence", MINIMAL_TYPE.format(id="fishing-licence", serial="101"))
    (tmp_path / "README.txt").write_text("not a type")
    (tmp_path / "_draft.toml").write_text("[unfinished")  # drafts and editor files are skipped
    (tmp_path / ".fishing-licence.toml.swp").write_text("[unfinished")
    registry = load_types(extra_dirs=[tmp_path])
    fishing = registry.get("fishing-licence")
    assert fishing.source == tmp_path / "fishing-licence.toml"
    assert fishing.code == PLACEHOLDER_LOCAL_AUTHORITY + "101"
    validated = fishing.validate({"name": "王五", "id_number": WANG_WU})
    assert validated.holder_id == WANG_WU
    assert "resident-id-card" in registry


OFFICIAL_LICENCE = """\
schema = 1
id = "business-licence"
name_zh = "营业执照"
name_en = "Business Licence"
holder_kind = "organisation"
holder_field = "uscc"

[code]
kind = "official"
value = "{code}"

[fields.name]
type = "string"
label_zh = "名称"
label_en = "Name"
required = true
personal = false

[fields.uscc]
type = "uscc"
label_zh = "统一社会信用代码"
label_en = "Unified social credit code"
required = true
personal = false

[profiles.default]
fields = ["uscc", "name"]
"""


def test_home_types_directory_overrides_a_bundled_type(tmp_path: Path) -> None:
    types_dir = tmp_path / "types"
    types_dir.mkdir()
    code = ids.uscc_with_check("11100000MB0000000") + "001"
    _write(types_dir, "business-licence", OFFICIAL_LICENCE.format(code=code))
    licence = load_types(home=tmp_path).get("business-licence")
    assert licence.code == code
    assert licence.code_kind == "official"
    assert list(licence.fields) == ["name", "uscc"]
    assert load_types(home=tmp_path / "nowhere").get("business-licence").code_kind == "local"
    bad = code[:17] + ("0" if code[17] != "0" else "1") + "001"
    _write(types_dir, "business-licence", OFFICIAL_LICENCE.format(code=bad))
    with pytest.raises(TypeDefinitionError) as caught:
        load_types(home=tmp_path)
    assert "code.value" in str(caught.value)


def test_local_authority_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    authority = ids.uscc_with_check("11630000MB1234567")
    registry = load_types(local_authority=authority)
    licence = registry.get("business-licence")
    assert licence.code.startswith(authority) and not licence.code_is_placeholder
    assert registry.get("resident-id-card").code == "11100000000013127D001"
    monkeypatch.setenv("CERTLIB_LOCAL_TYPE_AUTHORITY", authority)
    assert load_types().get("tobacco-retail-licence").code == authority + "009"
    with pytest.raises(ConfigurationError):
        load_types(local_authority=authority[:17] + ("0" if authority[17] != "0" else "1"))
    with pytest.raises(ConfigurationError):
        load_types(local_authority="not a uscc")


def test_missing_extra_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_types(extra_dirs=[tmp_path / "absent"])


def test_malformed_toml_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken", 'schema = 1\nid = "broken"\n[fields.name\n')
    with pytest.raises(TypeDefinitionError) as caught:
        load_types(extra_dirs=[tmp_path])
    assert str(path) in str(caught.value)
    assert "not valid TOML" in str(caught.value)
    assert caught.value.path == path


BAD_DEFINITIONS = [
    ('schema = 1\n', 'schema = 2\n', "schema"),
    ('id = "{id}"', 'id = "other-name"', "file name"),
    ('required = true\n\n[fields.id_number]', 'required = true\nmaxlen = 3\n\n[fields.id_number]',
     "unknown key(s) maxlen"),
    ('type = "string"', 'type = "text"', "fields.name.type"),
    ('fields = ["name"]', 'fields = ["name", "nickname"]', "nickname"),
    ('[profiles.default]', '[profiles.short]', "profiles.default is required"),
    ('holder_field = "id_number"', 'holder_field = "name"', "holder_field"),
    ('serial = "{serial}"', 'serial = "1"', "code.serial"),
    ('kind = "local"', 'kind = "national"', "code.kind"),
    ('label_en = "Name"\n', 'label_en = 5\n', "fields.name.label_en"),
    ('[code]', 'validity = {{ until = "name" }}\n\n[code]', "validity.until"),
    ('[profiles.default]', '[[checks]]\nkind = "date_order"\nearlier = "name"\nlater = "name"\n'
     '\n[profiles.default]', "checks[0].earlier"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "message"), BAD_DEFINITIONS)
def test_invalid_definitions_are_rejected_clearly(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    template = MINIMAL_TYPE.format(id="{id}", serial="{serial}")
    assert old in template
    text = template.replace(old, new, 1).format(id="bad-type", serial="102")
    path = _write(tmp_path, "bad-type", text)
    with pytest.raises(TypeDefinitionError) as caught:
        load_type_file(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_duplicate_type_codes_are_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "copy-one", MINIMAL_TYPE.format(id="copy-one", serial="201"))
    _write(tmp_path, "copy-two", MINIMAL_TYPE.format(id="copy-two", serial="201"))
    with pytest.raises(TypeDefinitionError) as caught:
        load_types(extra_dirs=[tmp_path])
    assert "copy-one" in str(caught.value) and "copy-two" in str(caught.value)


def test_local_serial_clash_with_a_bundled_type(tmp_path: Path) -> None:
    _write(tmp_path, "clash", MINIMAL_TYPE.format(id="clash", serial="007"))
    with pytest.raises(TypeDefinitionError) as caught:
        load_types(extra_dirs=[tmp_path])
    assert "business-licence" in str(caught.value)


def test_registry_rejects_the_same_id_twice(registry: TypeRegistry) -> None:
    card = registry.get("resident-id-card")
    with pytest.raises(ConfigurationError):
        TypeRegistry([card, card])


# -- robustness --------------------------------------------------------------------------------

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.dates(),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_arbitrary_values_raise_only_input_errors(
    registry: TypeRegistry, data: st.DataObject
) -> None:
    type_id = data.draw(st.sampled_from(sorted(SAMPLES)))
    certificate_type: CertificateType = registry.get(type_id)
    field = data.draw(st.sampled_from(sorted(certificate_type.fields)))
    value = data.draw(_values)
    record: Mapping[str, object] = {**SAMPLES[type_id], field: value}
    try:
        validated = certificate_type.validate(record, on=ON)
    except InputError:
        return
    again = certificate_type.validate(dict(validated.values), on=ON)
    assert dict(again.values) == dict(validated.values)
