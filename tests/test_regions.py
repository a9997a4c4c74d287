"""GB/T 2260 regions: names, levels and the province/prefecture/county hierarchy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certlib import regions
from certlib.regions import MalformedRegionCode, RegionLevel

PROVINCES = {
    "110000": "北京市", "120000": "天津市", "130000": "河北省", "140000": "山西省",
    "150000": "内蒙古自治区", "210000": "辽宁省", "220000": "吉林省", "230000": "黑龙江省",
    "310000": "上海市", "320000": "江苏省", "330000": "浙江省", "340000": "安徽省",
    "350000": "福建省", "360000": "江西省", "370000": "山东省", "410000": "河南省",
    "420000": "湖北省", "430000": "湖南省", "440000": "广东省", "450000": "广西壮族自治区",
    "460000": "海南省", "500000": "重庆市", "510000": "四川省", "520000": "贵州省",
    "530000": "云南省", "540000": "西藏自治区", "610000": "陕西省", "620000": "甘肃省",
    "630000": "青海省", "640000": "宁夏回族自治区", "650000": "新疆维吾尔自治区",
    "710000": "台湾省", "810000": "香港特别行政区", "820000": "澳门特别行政区",
}  # fmt: skip

# 青海省: 2 prefecture-level cities, 6 autonomous prefectures, 44 county-level divisions.
QINGHAI = {
    "630100": ["630102", "630103", "630104", "630105", "630106", "630121", "630123"],
    "630200": ["630202", "630203", "630222", "630223", "630224", "630225"],
    "632200": ["632221", "632222", "632223", "632224"],
    "632300": ["632301", "632322", "632323", "632324"],
    "632500": ["632521", "632522", "632523", "632524", "632525"],
    "632600": ["632621", "632622", "632623", "632624", "632625", "632626"],
    "632700": ["632701", "632722", "632723", "632724", "632725", "632726"],
    "632800": ["632801", "632802", "632803", "632821", "632822", "632823"],
}
# 甘肃省: 12 prefecture-level cities (嘉峪关 has no counties), 2 autonomous prefectures,
# 86 counties.
GANSU = {
    "620100": ["620102", "620103", "620104", "620105", "620111", "620121", "620122", "620123"],
    "620200": [],
    "620300": ["620302", "620321"],
    "620400": ["620402", "620403", "620421", "620422", "620423"],
    "620500": ["620502", "620503", "620521", "620522", "620523", "620524", "620525"],
    "620600": ["620602", "620621", "620622", "620623"],
    "620700": ["620702", "620721", "620722", "620723", "620724", "620725"],
    "620800": ["620802", "620821", "620822", "620823", "620825", "620826", "620881"],
    "620900": ["620902", "620921", "620922", "620923", "620924", "620981", "620982"],
    "621000": ["621002", "621021", "621022", "621023", "621024", "621025", "621026", "621027"],
    "621100": ["621102", "621121", "621122", "621123", "621124", "621125", "621126"],
    "621200": [
        "621202",
        "621221",
        "621222",
        "621223",
        "621224",
        "621225",
        "621226",
        "621227",
        "621228",
    ],
    "622900": ["622901", "622921", "622922", "622923", "622924", "622925", "622926", "622927"],
    "623000": ["623001", "623021", "623022", "623023", "623024", "623025", "623026", "623027"],
}


def test_every_province_level_division_is_named() -> None:
    listed = {region.code: region.name for region in regions.provinces()}
    assert listed == PROVINCES
    for code, name in PROVINCES.items():
        region = regions.lookup(code)
        assert region.name == name
        assert region.level is RegionLevel.PROVINCE
        assert region.parent is None


@pytest.mark.parametrize(
    ("province", "expected", "counties"), [("630000", QINGHAI, 44), ("620000", GANSU, 86)]
)
def test_qinghai_and_gansu_are_complete(
    province: str, expected: dict[str, list[str]], counties: int
) -> None:
    prefectures = regions.children(province)
    assert [p.code for p in prefectures] == sorted(expected)
    total = 0
    for prefecture in prefectures:
        assert prefecture.known and prefecture.level is RegionLevel.PREFECTURE
        listed = regions.children(prefecture.code)
        assert [county.code for county in listed] == expected[prefecture.code]
        for county in listed:
            assert county.name and county.level is RegionLevel.COUNTY
            assert county.parent == prefecture
            assert county.province.code == province
        total += len(listed)
    assert total == counties


def test_names_and_kinds() -> None:
    county = regions.lookup("630223")
    assert county.name == "互助土族自治县"
    assert county.kind == "自治县"
    assert county.full_name == "青海省海东市互助土族自治县"
    assert regions.lookup("623000").name == "甘南藏族自治州"
    assert regions.lookup("620200").name == "嘉峪关市"
    assert regions.children("620200") == ()


@pytest.mark.parametrize(
    ("code", "parent"),
    [
        ("630202", "630200"),
        ("630200", "630000"),
        ("630000", None),
        ("110101", "110000"),  # a municipality's districts hang under the municipality
        ("500157", "500000"),
        ("500229", "500000"),  # 城口县, once under the 500200 grouping
        ("429004", "420000"),  # 仙桃市, 省直辖县级
        ("419001", "410000"),  # 济源市
        ("469001", "460000"),  # 五指山市
        ("659001", "650000"),  # 石河子市
        ("110100", "110000"),
    ],
)
def test_parent_codes(code: str, parent: str | None) -> None:
    assert regions.parent_code(code) == parent


def test_levels_follow_the_code_structure() -> None:
    assert regions.level_of("110000") is RegionLevel.PROVINCE
    assert regions.level_of("110100") is RegionLevel.PREFECTURE
    assert regions.level_of("110101") is RegionLevel.COUNTY
    assert regions.level_of("429004") is RegionLevel.COUNTY


def test_province_of_and_is_within() -> None:
    assert regions.province_of("632801").name == "青海省"
    assert regions.province_of("429004").code == "420000"
    assert regions.is_within("632801", "632800")
    assert regions.is_within("632801", "630000")
    assert regions.is_within("632801", "632801")
    assert not regions.is_within("632801", "632700")
    assert not regions.is_within("632801", "620000")
    assert not regions.is_within("630000", "632800")
    assert regions.is_within("429004", "420000")
    assert not regions.is_within("110101", "120000")


def test_unknown_well_formed_codes_work_structurally() -> None:
    old = regions.lookup("110103")  # 崇文区, abolished in 2010, still in old ID numbers
    assert old.name is None and not old.known and old.full_name is None
    assert old.level is RegionLevel.COUNTY
    assert old.parent is not None and old.parent.name == "北京市"
    assert regions.is_within("110103", "110000")
    future = regions.lookup("639999")
    assert future.name is None
    assert regions.parent_code("639999") == "639900"
    assert regions.province_of("639999").name == "青海省"
    assert regions.lookup("830000").level is RegionLevel.PROVINCE  # Taiwan residents' permits


@pytest.mark.parametrize(
    "code",
    ["", "63000", "6300000", "63000a", "６３００００", "000000", "900000", "100000", "630012"],
)
def test_malformed_codes_raise(code: str) -> None:
    assert not regions.is_well_formed(code)
    with pytest.raises(MalformedRegionCode):
        regions.lookup(code)
    with pytest.raises(MalformedRegionCode):
        regions.is_within("630000", code)


@given(st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_every_well_formed_code_has_a_finite_chain_to_its_province(code: str) -> None:
    if not regions.is_well_formed(code):
        with pytest.raises(MalformedRegionCode):
            regions.lookup(code)
        return
    chain = regions.ancestors(code)
    assert chain[0] == code
    assert chain[-1] == code[:2] + "0000"
    levels = [regions.level_of(c) for c in chain]
    order = [RegionLevel.COUNTY, RegionLevel.PREFECTURE, RegionLevel.PROVINCE]
    assert [order.index(level) for level in levels] == sorted(order.index(lv) for lv in levels)
    assert len(set(levels)) == len(levels)
