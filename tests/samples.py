"""Sample certificate data for tests: every person and company here is fictitious.

张三, 李四, 王五 are the Chinese placeholder names; ID numbers and USCCs are made here with
valid check characters.
"""

from __future__ import annotations

from datetime import date

from certlib import ids

ON = date(2025, 6, 1)
ZHANG_SAN = ids.id_number_with_check("63010219850615231")  # male, born 1985-06-15, 西宁
LI_SI = ids.id_number_with_check("62010219921130048")  # female, born 1992-11-30, 兰州
WANG_WU = ids.id_number_with_check("11010519600101003")  # male, born 1960-01-01
BABY_MOTHER = ids.id_number_with_check("63020219950320046")  # female
COMPANY = ids.uscc_with_check("91630100MA7FAKE00")  # fictitious company in 西宁
SHOP = ids.uscc_with_check("92620102MA7FAKE01")  # fictitious individual business in 兰州
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(64))

SAMPLES: dict[str, dict[str, object]] = {
    "resident-id-card": {
        "name": "张三",
        "sex": "男",
        "ethnicity": "汉",
        "birth_date": "1985.06.15",
        "address": "青海省西宁市城东区示例路1号",
        "id_number": ZHANG_SAN.lower(),
        "issuing_authority": "西宁市公安局城东分局",
        "valid_from": date(2015, 3, 1),
        "valid_until": "20350301",
        "photo": PHOTO,
    },
    "driving-licence": {
        "id_number": LI_SI,
        "name": "李四",
        "sex": "2",
        "nationality": "中国",
        "address": "甘肃省兰州市城关区示例街2号",
        "birth_date": "1992-11-30",
        "first_issue_date": "2012-08-20",
        "vehicle_classes": "C1",
        "valid_from": "2018-08-20",
        "valid_until": "2028-08-20",
        "file_number": "620100123456",
        "issuing_authority": "甘肃省兰州市公安局交通警察支队",
    },
    "vehicle-licence": {
        "plate_number": "青A12345",
        "vehicle_type": "小型普通客车",
        "owner": "张三",
        "owner_id_number": ZHANG_SAN,
        "address": "青海省西宁市城东区示例路1号",
        "use_character": "非营运",
        "brand_model": "示例牌SL7150",
        "vin": "LSVAB2BM0EN000001",
        "engine_number": "A12345678",
        "registration_date": "2019-04-02",
        "issue_date": "2019-04-02",
        "issuing_authority": "青海省西宁市公安局交通警察支队",
        "approved_passengers": 5,
        "gross_mass_kg": "1850",
        "length_mm": 4670,
        "width_mm": 1806,
        "height_mm": 1474,
        "inspection_valid_until": "2025-04-30",
    },
    "household-register": {
        "household_number": "630102001234",
        "household_type": "家庭户",
        "head_of_household": "王五",
        "household_address": "青海省西宁市城东区示例路1号",
        "household_region": "630102",
        "name": "张三",
        "relationship": "子",
        "sex": "1",
        "birth_place": "青海省西宁市",
        "ethnicity": "01",
        "native_place": "青海西宁",
        "birth_date": "1985-06-15",
        "id_number": ZHANG_SAN,
        "height_cm": 175,
        "blood_type": "AB",
        "marital_status": "已婚",
        "registration_date": "2000-01-10",
        "registration_authority": "西宁市公安局城东分局示例路派出所",
    },
    "birth-certificate": {
        "certificate_number": "Q630012345",
        "newborn_name": "张小三",
        "sex": "1",
        "birth_date": "2024-05-20",
        "birth_time": "08:05",
        "gestational_weeks": 39,
        "birth_weight_g": 3350,
        "birth_length_cm": "50.0",
        "birth_region": "630102",
        "health_status": "良好",
        "mother_name": "赵六",
        "mother_age": 29,
        "mother_nationality": "中国",
        "mother_ethnicity": "汉族",
        "mother_id_number": BABY_MOTHER,
        "father_name": "张三",
        "father_id_number": ZHANG_SAN,
        "delivery_institution": "西宁市示例妇幼保健院",
        "issuing_institution": "西宁市示例妇幼保健院",
        "issue_date": "2024-05-25",
    },
    "degree-certificate": {
        "certificate_kind": "degree",
        "certificate_number": "1073042015001234",
        "name": "李四",
        "sex": "女",
        "birth_date": "1992年11月30日",
        "id_number": LI_SI,
        "institution": "兰州示例大学",
        "institution_code": "10730",
        "education_level": "本科",
        "programme": "计算机科学与技术",
        "degree": "工学学士",
        "study_mode": "普通全日制",
        "enrolment_date": "2011-09-01",
        "completion_date": "2015-06-30",
        "completion_status": "毕业",
    },
    "professional-qualification": {
        "certificate_number": "S000063010001234",
        "name": "王五",
        "sex": "1",
        "id_number": WANG_WU,
        "qualification_name": "电工",
        "level": "高级技师",
        "issue_date": "2019-12-01",
        "issuing_authority": "青海省职业技能鉴定指导中心",
    },
    "business-licence": {
        "uscc": COMPANY.lower(),
        "name": "西宁示例科技有限公司",
        "entity_type": "有限责任公司（自然人投资或控股）",
        "legal_representative": "张三",
        "registered_capital": 100.50,
        "capital_currency": "CNY",
        "established_date": "2021-03-15",
        "business_term_from": "2021-03-15",
        "business_term_until": "长期",
        "address": "青海省西宁市城东区示例路1号",
        "business_scope": (
            "软件开发；信息技术咨询服务。\r\n"
            "（依法须经批准的项目，经相关部门批准后方可开展经营活动）"
        ),
        "registration_authority": "西宁市城东区市场监督管理局",
        "registration_date": "2023-07-01",
    },
    "social-security-card": {
        "name": "李四",
        "id_number": LI_SI,
        "sex": "female",
        "card_number": "A12345678",
        "card_generation": "3",
        "issuing_region": "620100",
        "issuing_authority": "兰州市人力资源和社会保障局",
        "issue_date": "2022-02-14",
        "valid_until": "2032-02-14",
    },
    "tobacco-retail-licence": {
        "licence_number": "620102100001",
        "entity_name": "城关区示例便利店",
        "uscc": SHOP,
        "person_in_charge": "李四",
        "business_address": "甘肃省兰州市城关区示例街3号",
        "business_scope": "卷烟零售、雪茄烟零售",
        "supplier": "甘肃省烟草公司兰州市公司",
        "region": "620102",
        "valid_from": "2023-01-01",
        "valid_until": "2027-12-31",
        "issuing_authority": "兰州市城关区烟草专卖局",
    },
}


PERSON_NUMBERS = (ZHANG_SAN, LI_SI, WANG_WU, BABY_MOTHER)
"""Identity numbers that must never appear in any log output."""
