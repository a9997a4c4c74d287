"""Check characters and identifiers: real vectors (cn-eseal-ecert.md §5.2, §5.6), properties."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certlib import ids
from certlib.errors import CertlibError, MalformedInput
from certlib.ids import CertificateIdentifier, MalformedIdentifier

# Real identifiers seen in public data dictionaries, API docs and file names (§5.2).
REAL_VALID = {
    "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F": "F",  # 吉林
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U": "U",  # 湖南
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.002.S": "S",  # 湖南 v2
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0": "0",  # 浙江
    "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9": "9",  # 合肥 test
    "1.2.156.3005.2.11100000000013338W087.11370800MB28559184.37080001202411010001.001.3": "3",
}
# A Shandong API example with a 32-hex serial: the check character does not match.
SHANDONG = (
    "1.2.156.3005.2.11100000000013661B006.113700000045046442.209FA4E88F9E4C878F3E9BED2CE7EA49.001.M"
)

USCC_ALPHABET = ids.USCC_ALPHABET
uscc_bodies = st.text(alphabet=USCC_ALPHABET, min_size=2, max_size=2).flatmap(
    lambda head: st.tuples(
        st.just(head),
        st.text(alphabet="0123456789", min_size=6, max_size=6),
        st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9),
    ).map("".join)
)
valid_usccs = uscc_bodies.map(ids.uscc_with_check)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31))
valid_id_numbers = st.builds(
    lambda region, birth, sequence: ids.id_number_with_check(
        region + birth.strftime("%Y%m%d") + sequence
    ),
    st.sampled_from(["110105", "630102", "620102", "429004", "110103", "810000"]),
    birth_dates,
    st.text(alphabet="0123456789", min_size=3, max_size=3),
)


def test_mod11_2_matches_the_weighted_form_and_orcid_examples() -> None:
    # ORCID iDs use ISO/IEC 7064 MOD 11-2; these are ORCID's documented examples.
    assert ids.iso7064_mod11_2("000000021825009") == "7"
    assert ids.iso7064_mod11_2("000000015109370") == "0"
    assert ids.iso7064_mod11_2("000000021694233") == "X"
    assert ids.iso7064_mod11_2("11010519491231002") == ids.id_number_check_char("11010519491231002")


@pytest.mark.parametrize("text", sorted(REAL_VALID))
def test_real_identifiers_parse_with_a_matching_check(text: str) -> None:
    parsed = CertificateIdentifier.parse(text)
    identifier = parsed.identifier
    assert identifier.check == REAL_VALID[text]
    assert identifier.check_valid
    assert ids.WARN_IDENTIFIER_CHECK not in parsed.warnings
    assert str(identifier) == text


def test_real_identifier_fields() -> None:
    parsed = CertificateIdentifier.parse(
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
    )
    assert parsed.warnings == ()
    identifier = parsed.identifier
    assert identifier.type_code == "11100000000013338W032"
    assert identifier.defining_authority == "11100000000013338W"
    assert identifier.issuer_code == "11220000013544541J"
    assert identifier.serial == "2430599"
    assert identifier.version == 1


def test_hefei_issuer_region_code_is_a_warning_not_a_rejection() -> None:
    parsed = CertificateIdentifier.parse(
        "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9"
    )
    assert parsed.identifier.check_valid
    assert parsed.warnings == (ids.WARN_ISSUER_NOT_USCC,)


def test_shandong_hex_serial_mismatch_is_a_warning() -> None:
    parsed = CertificateIdentifier.parse(SHANDONG)
    assert not parsed.identifier.check_valid
    assert parsed.identifier.expected_check == "D"
    assert parsed.warnings == (ids.WARN_IDENTIFIER_CHECK,)
    assert str(parsed.identifier) == SHANDONG


def test_with_version_recomputes_the_check() -> None:
    v1 = CertificateIdentifier.parse(
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
    ).identifier
    assert str(v1.with_version(2)).endswith(".002.S")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1.2.156.3005.1.11100000000013338W032.11220000013544541J.2430599.001.F",  # wrong root
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001",  # no check
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.01.F",  # version
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.FF",
        "1.2.156.3005.2.11100000000013338W32.11220000013544541J.2430599.001.F",  # type code
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.24305_99.001.F",
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J..001.F",
        "1.2.156.3005.2.062301.1101101102.0624_001.001.U",  # junk seen in a public UI demo
        "1.2.156.3005.2." + "A" * 300,
    ],
)
def test_broken_identifiers_raise_malformed_input(text: str) -> None:
    with pytest.raises(MalformedInput):
        CertificateIdentifier.parse(text)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(MalformedIdentifier):
        CertificateIdentifier.parse(b"1.2.156.3005.2")  # type: ignore[arg-type]


def test_generate_validates_its_parts() -> None:
    with pytest.raises(MalformedIdentifier):
        CertificateIdentifier.generate("11100000000013127D001", "340100", "1")
    with pytest.raises(MalformedIdentifier):
        CertificateIdentifier.generate("11100000000013127D001", "11100000000013338W", "A-1")
    with pytest.raises(MalformedIdentifier):
        CertificateIdentifier.generate("11100000000013127D001", "11100000000013338W", "1", 1000)
    generated = CertificateIdentifier.generate(
        "11100000000013127D001", "11100000000013338W", "abc123"
    )
    assert generated.serial == "ABC123"
    assert str(generated).startswith("1.2.156.3005.2.11100000000013127D001.")


def test_random_serial() -> None:
    serial = ids.random_serial()
    assert len(serial) == 20 and serial.isalnum() and serial == serial.upper()
    assert ids.random_serial() != serial
    with pytest.raises(MalformedIdentifier):
        ids.random_serial(0)


@settings(max_examples=200)
@given(
    type_body=uscc_bodies,
    type_serial=st.integers(0, 999),
    issuer=valid_usccs,
    serial=st.text(alphabet=ids.ALPHABET_36, min_size=1, max_size=64),
    version=st.integers(1, 999),
)
def test_generate_parse_round_trip(
    type_body: str, type_serial: int, issuer: str, serial: str, version: int
) -> None:
    type_code = ids.uscc_with_check(type_body) + f"{type_serial:03d}"
    generated = CertificateIdentifier.generate(type_code, issuer, serial, version)
    parsed = CertificateIdentifier.parse(str(generated))
    assert parsed.identifier == generated
    assert parsed.warnings == ()


@settings(max_examples=300)
@given(
    issuer=valid_usccs,
    serial=st.text(alphabet=ids.ALPHABET_36, min_size=1, max_size=32),
    data=st.data(),
)
def test_any_single_substitution_in_an_identifier_is_detected(
    issuer: str, serial: str, data: st.DataObject
) -> None:
    text = str(CertificateIdentifier.generate("11100000000013127D001", issuer, serial))
    positions = [i for i, c in enumerate(text) if c != "." and i >= len(ids.ROOT) + 1]
    position = data.draw(st.sampled_from(positions))
    replacement = data.draw(st.sampled_from([c for c in ids.ALPHABET_36 if c != text[position]]))
    changed = text[:position] + replacement + text[position + 1 :]
    try:
        parsed = CertificateIdentifier.parse(changed)
    except MalformedIdentifier:
        return
    assert ids.WARN_IDENTIFIER_CHECK in parsed.warnings


# -- USCC ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["9135052155323005XL", "11100000000013338W", "91130602R8TTDB3PTG", "11100000000013127D"]
)
def test_real_usccs_pass(code: str) -> None:
    assert ids.check_uscc(code) == ids.CheckedCode(code, ())
    assert ids.is_valid_uscc(code)
    assert ids.uscc_with_check(code[:17]) == code


def test_pilot_uscc_is_legal_but_warns() -> None:
    checked = ids.check_uscc("91350100M0001TGQXM")
    assert checked.value == "91350100M0001TGQXM"
    assert checked.warnings == (ids.WARN_USCC_CHECK,)
    assert not checked.check_valid
    assert not ids.is_valid_uscc("91350100M0001TGQXM")


def test_uscc_outer_mod_31() -> None:
    # A body whose weighted sum is a multiple of 31 needs check character '0', not an index error.
    body = next(
        b
        for b in (f"9135052155323{n:04d}" for n in range(10000))
        if sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(b)) % 31 == 0
    )
    assert ids.uscc_check_char(body) == "0"


def test_uscc_is_normalised() -> None:
    assert ids.check_uscc(" 9135052155323005xl ").value == "9135052155323005XL"


@pytest.mark.parametrize(
    "code",
    [
        "9135052155323005X",  # 17 characters
        "9135052155323005XLL",
        "9135052155323005IL",  # I is not in the alphabet
        "913505215532300OXL",  # O
        "91A5052155323005XL",  # region part not digits
        "9135052155323005X!",
    ],
)
def test_malformed_usccs_raise(code: str) -> None:
    with pytest.raises(MalformedIdentifier):
        ids.check_uscc(code)
    assert not ids.is_valid_uscc(code)


@settings(max_examples=300)
@given(code=valid_usccs, data=st.data())
def test_any_single_substitution_in_a_uscc_is_detected(code: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, 17))
    replacement = data.draw(st.sampled_from([c for c in USCC_ALPHABET if c != code[position]]))
    changed = code[:position] + replacement + code[position + 1 :]
    try:
        checked = ids.check_uscc(changed)
    except MalformedIdentifier:
        return
    assert checked.warnings == (ids.WARN_USCC_CHECK,)


# -- ID numbers ----------------------------------------------------------------------------------


def test_id_number_vector() -> None:
    checked = ids.check_id_number("11010519491231002X")
    assert checked.value == "11010519491231002X"
    assert checked.warnings == ()
    assert ids.check_id_number("11010519491231002x").value == "11010519491231002X"
    assert ids.id_number_birth_date("11010519491231002X") == date(1949, 12, 31)
    assert ids.id_number_sex("11010519491231002X") == "2"
    assert ids.id_number_region("11010519491231002X") == "110105"


def test_id_number_check_mismatch_warns_without_the_number() -> None:
    checked = ids.check_id_number("110105194912310021")
    assert checked.warnings == (ids.WARN_ID_CHECK,)
    assert "110105194912310021" not in " ".join(checked.warnings)
    assert not ids.is_valid_id_number("110105194912310021")


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002",  # 17
        "1101051949123100211",  # 19
        "11010519491331002X",  # month 13
        "11010519490229002X",  # 1949 was not a leap year
        "11010517991231002X",  # before 1800
        "11010520991231002X",  # in the future
        "01010519491231002X",  # no province 01
        "11000119491231002X",  # county under prefecture 00
        "1101051949123100X2",  # X before the end
        "１１０１０５１９４９１２３１００２X",  # full-width digits are not ASCII
    ],
)
def test_malformed_id_numbers_raise_without_the_number(number: str) -> None:
    with pytest.raises(MalformedIdentifier) as caught:
        ids.check_id_number(number)
    assert number not in str(caught.value)
    assert number[:17] not in str(caught.value)


def test_birth_date_bound_follows_on() -> None:
    number = ids.id_number_with_check("63010220240601123")
    assert ids.is_valid_id_number(number, on=date(2024, 6, 1))
    assert not ids.is_valid_id_number(number, on=date(2024, 5, 31))


@settings(max_examples=300)
@given(number=valid_id_numbers, data=st.data())
def test_any_single_substitution_in_an_id_number_is_detected(
    number: str, data: st.DataObject
) -> None:
    assert ids.is_valid_id_number(number)
    position = data.draw(st.integers(0, 17))
    alphabet = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != number[position]]))
    changed = number[:position] + replacement + number[position + 1 :]
    try:
        checked = ids.check_id_number(changed)
    except MalformedIdentifier:
        return
    assert checked.warnings == (ids.WARN_ID_CHECK,)


@settings(max_examples=200)
@given(number=valid_id_numbers, position=st.integers(0, 15))
def test_adjacent_transpositions_in_an_id_number_are_detected(number: str, position: int) -> None:
    if number[position] == number[position + 1]:
        return
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    try:
        checked = ids.check_id_number(swapped)
    except MalformedIdentifier:
        return
    assert checked.warnings == (ids.WARN_ID_CHECK,)


@settings(max_examples=300)
@given(text=st.text(max_size=80))
def test_arbitrary_text_raises_only_certlib_errors(text: str) -> None:
    for function in (ids.check_id_number, ids.check_uscc, CertificateIdentifier.parse):
        try:
            function(text)
        except CertlibError as error:
            assert isinstance(error, MalformedInput)
