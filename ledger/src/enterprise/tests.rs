//! Unit and property tests of the register's validation: credit codes, districts, classes.

use proptest::prelude::*;
use serde_json::json;

use super::*;

const CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Real codes published online (a sample of python-stdnum's test data and well-known companies):
/// each must pass every rule, including the GB 11714 check of positions 9-17.
const REAL_CODES: &[&str] = &[
    "91350100M000100Y43",
    "121200004013590816",
    "91110000600037341L",
    "91110000710926094P",
    "91120224064012553U",
    "9115220107837757XE",
    "91310115MA1K3BTP2B",
    "9131012056010553X5",
    "91340600MA2PBM9HXD",
    "9144030071526726XG",
    "914403001922038216",
    "91620105L015101280",
    "92340602MA2PBMEM24",
    "92340621MA2PBKRXXG",
];

fn lists() -> ClassificationLists {
    ClassificationLists::embedded().expect("embedded lists load")
}

fn code_error(text: &str) -> EnterpriseError {
    CreditCode::parse(text).expect_err(text)
}

#[test]
fn real_codes_parse() {
    for text in REAL_CODES {
        let code = CreditCode::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(code.as_str(), *text);
        let body = &text[..17];
        assert_eq!(
            CreditCode::check_char(body),
            Ok(text.chars().nth(17).unwrap_or(' '))
        );
    }
}

#[test]
fn widely_cited_example_is_valid_and_described() {
    let code = CreditCode::parse("91350100M000100Y43").expect("valid");
    assert_eq!(CreditCode::check_char("91350100M000100Y4"), Ok('3'));
    assert_eq!(CreditCode::organisation_check_char("M000100Y"), Ok('4'));
    assert_eq!(code.registration_division(), "350100");
    assert_eq!(code.organisation_code(), "M000100Y4");
    let registration = code.registration();
    assert_eq!(
        (registration.authority, registration.entity_type),
        ('9', '1')
    );
    assert_eq!(registration.entity_type_name, "企业");
}

#[test]
fn synthetic_codes_from_parts() {
    let code = CreditCode::from_parts("91", "500103", "MA5U0001").expect("valid parts");
    assert_eq!(CreditCode::parse(code.as_str()), Ok(code.clone()));
    assert_eq!(&code.as_str()[..16], "91500103MA5U0001");
    let with = CreditCode::with_check_char(&code.as_str()[..17]).expect("valid body");
    assert_eq!(with, code);
}

#[test]
fn credit_code_errors_say_what_is_wrong() {
    use EnterpriseError as E;
    let cases: Vec<(&str, EnterpriseError)> = vec![
        ("", E::CreditCodeLength { found: 0 }),
        ("91350100M000100Y4", E::CreditCodeLength { found: 17 }),
        ("91350100M000100Y433", E::CreditCodeLength { found: 19 }),
        (
            " 91350100M000100Y4",
            E::CreditCodeCharacter {
                position: 1,
                found: ' ',
                expected: "allowed are digits 0-9 and capital letters except I, O, S, V, Z",
            },
        ),
        (
            "91350100M00I100Y43",
            E::CreditCodeCharacter {
                position: 12,
                found: 'I',
                expected: "the letters I, O, S, V and Z are not used",
            },
        ),
        (
            "91350100m000100Y43",
            E::CreditCodeCharacter {
                position: 9,
                found: 'm',
                expected: "letters must be capitals",
            },
        ),
        (
            "9135A100M000100Y43",
            E::CreditCodeCharacter {
                position: 5,
                found: 'A',
                expected: "positions 3-8 (the registering authority's division code) are digits",
            },
        ),
        (
            "９1350100M000100Y43",
            E::CreditCodeCharacter {
                position: 1,
                found: '９',
                expected: "allowed are digits 0-9 and capital letters except I, O, S, V, Z",
            },
        ),
        ("B1350100M000100Y43", E::CreditCodeAuthority { found: 'B' }),
        (
            "91990100M000100Y43",
            E::CreditCodeDivision {
                found: "990100".to_owned(),
                province: "99".to_owned(),
            },
        ),
        (
            "91350100M000100Y44",
            E::CreditCodeCheck {
                expected: '3',
                found: '4',
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(code_error(text), expected, "{text:?}");
    }
}

#[test]
fn entity_type_must_belong_to_the_authority() {
    let error = code_error("94350100M000100Y43");
    let EnterpriseError::CreditCodeEntityType {
        authority,
        found,
        allowed,
        ..
    } = &error
    else {
        panic!("unexpected {error:?}");
    };
    assert_eq!((*authority, *found), ('9', '4'));
    assert_eq!(allowed, "1 企业, 2 个体工商户, 3 农民专业合作社");
    assert!(error.to_string().contains("position 2"));
}

#[test]
fn organisation_code_check_is_enforced() {
    // Positions 1-17 with a wrong GB 11714 check character, and a correct final check character.
    assert_eq!(
        CreditCode::with_check_char("91350100M000100Y5"),
        Err(EnterpriseError::OrganisationCodeCheck {
            expected: '4',
            found: '5'
        })
    );
}

#[test]
fn check_character_messages_name_both_characters() {
    let message = code_error("91350100M000100Y44").to_string();
    assert_eq!(
        message,
        "credit code check character (position 18) is wrong: expected '3', found '4'"
    );
}

#[test]
fn check_char_helpers_reject_bad_bodies() {
    assert_eq!(
        CreditCode::check_char("9135"),
        Err(EnterpriseError::CheckBodyLength {
            expected: 17,
            found: 4
        })
    );
    assert!(matches!(
        CreditCode::check_char("9135010OM000100Y4"),
        Err(EnterpriseError::CreditCodeCharacter {
            position: 8,
            found: 'O',
            ..
        })
    ));
    assert_eq!(
        CreditCode::organisation_check_char("M000100"),
        Err(EnterpriseError::CheckBodyLength {
            expected: 8,
            found: 7
        })
    );
}

#[test]
fn credit_code_serde_is_a_validated_string() {
    let code = CreditCode::parse("9144030071526726XG").expect("valid");
    assert_eq!(
        serde_json::to_string(&code).ok().as_deref(),
        Some("\"9144030071526726XG\"")
    );
    let back: CreditCode = serde_json::from_str("\"9144030071526726XG\"").expect("valid json");
    assert_eq!(back, code);
    let error = serde_json::from_str::<CreditCode>("\"9144030071526726XA\"").expect_err("bad");
    assert!(
        error.to_string().contains("expected 'G', found 'A'"),
        "{error}"
    );
}

#[test]
fn district_codes() {
    let lists = lists();
    let yuzhong = DistrictCode::parse("500103").expect("form");
    assert_eq!(
        lists.districts().check(yuzhong).map(|d| d.name.as_str()),
        Ok("渝中区")
    );
    assert_eq!(lists.districts().iter().count(), 38);
    assert_eq!(yuzhong.to_string(), "500103");
    for (text, reason) in [
        ("50010", "must be 6 digits"),
        ("5001033", "must be 6 digits"),
        ("50O103", "must be 6 digits"),
        ("990103", "does not start with a GB/T 2260 province code"),
    ] {
        assert_eq!(
            DistrictCode::parse(text),
            Err(EnterpriseError::DistrictCode {
                found: text.to_owned(),
                reason
            })
        );
    }
    assert!(DistrictCode::parse("500100").is_err());
    let chengdu = DistrictCode::parse("510104").expect("form");
    assert!(matches!(
        lists.districts().check(chengdu),
        Err(EnterpriseError::UnknownDistrict { .. })
    ));
    let old_qijiang = DistrictCode::parse("500222").expect("form");
    let error = lists.districts().check(old_qijiang).expect_err("retired");
    assert_eq!(
        error.to_string(),
        "district 500222 (綦江县) no longer exists in list districts-chongqing-2016-r1: use 500110"
    );
}

#[test]
fn industry_codes_and_sections() {
    for (text, section) in [
        ("0111", Section::A),
        ("2710", Section::C),
        ("4411", Section::D),
        ("7721", Section::N),
        ("9700", Section::T),
    ] {
        assert_eq!(
            IndustryCode::parse(text).map(IndustryCode::section),
            Ok(section)
        );
    }
    assert_eq!(Section::C.name_zh(), "制造业");
    let code = IndustryCode::parse("0111").expect("valid");
    assert_eq!(code.to_string(), "0111");
    assert_eq!(code.division(), 1);
    for text in ["271", "27100", "27a0", "9800", "0011", ""] {
        assert!(
            matches!(
                IndustryCode::parse(text),
                Err(EnterpriseError::IndustryCode { .. })
            ),
            "{text:?}"
        );
    }
}

#[test]
fn permit_numbers() {
    // HJ 608-2017's own example.
    let permit = PermitNumber::parse("91130200699229617X001P").expect("standard example");
    assert_eq!(permit.holder(), "91130200699229617X");
    assert_eq!(permit.serial(), 1);
    assert_eq!(permit.suffix(), 'P');
    for text in [
        "91130200699229617X001",
        "91130200699229617X0001P",
        "91130200699229617A001P",
        "91130200699229617X0A1P",
        "91130200699229617X001p",
        "91130200699229617X0011",
        "H9500103000012345a001P",
    ] {
        assert!(
            matches!(
                PermitNumber::parse(text),
                Err(EnterpriseError::PermitNumber { .. })
            ),
            "{text:?}"
        );
    }
}

#[test]
fn embedded_lists_load_with_versions() {
    let lists = lists();
    let htm = lists.list(ClassificationTag::HighTechManufacturing);
    assert_eq!(htm.version, "htm-2017-r1");
    assert_eq!(htm.groups.len(), 6);
    assert!(!htm.confirmed);
    assert_eq!(
        lists
            .list(ClassificationTag::StrategicEmerging)
            .groups
            .len(),
        9
    );
    assert_eq!(
        lists
            .list(ClassificationTag::HighEnergyHighEmission)
            .version,
        "two-high-2021-r1"
    );
    assert_eq!(lists.districts().version, "districts-chongqing-2016-r1");
}

fn codes(texts: &[&str]) -> Vec<IndustryCode> {
    texts
        .iter()
        .map(|t| IndustryCode::parse(t).expect("valid code"))
        .collect()
}

fn summary(tags: &[DerivedTag]) -> Vec<(ClassificationTag, String, String, bool)> {
    tags.iter()
        .map(|t| {
            (
                t.tag,
                t.group.clone(),
                t.evidence_code.to_string(),
                t.partial,
            )
        })
        .collect()
}

#[test]
fn derive_tags_records_list_group_code_and_partiality() {
    use ClassificationTag::*;
    let lists = lists();
    let tags = lists.derive_tags(&codes(&["2762", "3911", "2614", "2762"]));
    let expected = vec![
        (HighTechManufacturing, "pharmaceuticals", "2762", false),
        (
            HighTechManufacturing,
            "computers_and_office_equipment",
            "3911",
            false,
        ),
        (StrategicEmerging, "new_generation_it", "3911", true),
        (StrategicEmerging, "biotech", "2762", false),
        (HighEnergyHighEmission, "mee_2021_categories", "2614", true),
        (HighEnergyHighEmission, "nbs_energy_intensive", "2614", true),
        (HighEnergyHighEmission, "methanol", "2614", true),
        (HighEnergyHighEmission, "acetic_acid", "2614", true),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(tag, group, code, partial)| (tag, group.to_owned(), code.to_owned(), partial))
        .collect();
    assert_eq!(summary(&tags), expected);
    assert!(
        tags.iter()
            .all(|t| t.list_version == lists.list(t.tag).version)
    );
    assert!(lists.derive_tags(&codes(&["0111"])).is_empty());
    // 391 belongs to computers, not to electronics.
    let computer = lists.derive_tags(&codes(&["3912"]));
    assert!(
        computer
            .iter()
            .all(|t| t.group != "electronics_and_telecoms")
    );
}

fn texts_with(replace: (&str, &str)) -> Result<ClassificationLists, EnterpriseError> {
    let htm =
        include_str!("../../data/classifications/htm-2017.toml").replace(replace.0, replace.1);
    ClassificationLists::from_texts(ListTexts {
        high_tech_manufacturing: &htm,
        strategic_emerging: include_str!("../../data/classifications/sei-2018.toml"),
        high_energy_high_emission: include_str!("../../data/classifications/two-high.toml"),
        districts: include_str!("../../data/classifications/districts-chongqing.toml"),
    })
}

#[test]
fn broken_list_files_are_refused_with_the_file_named() {
    let cases = [
        (
            "list = \"high_tech_manufacturing\"",
            "list = \"strategic_emerging\"",
            "declares list",
        ),
        (
            "codes = [\"27\"]",
            "codes = [\"2\"]",
            "must be 2 to 4 digits",
        ),
        ("codes = [\"27\"]", "codes = [\"98\"]", "outside 01-97"),
        (
            "codes = [\"27\"]",
            "codes = [\"27\", \"27\"]",
            "appears twice",
        ),
        (
            "id = \"aerospace\"",
            "id = \"pharmaceuticals\"",
            "appears twice",
        ),
        (
            "version = \"htm-2017-r1\"",
            "version = \"\"",
            "version must not be empty",
        ),
        (
            "confirmed = false\n\n[[groups]]",
            "confirmed = false\nextra = 1\n\n[[groups]]",
            "unknown field",
        ),
        (
            "effective_from = 2017-10-01",
            "effective_from = 2017-10-01T00:00:00Z",
            "plain date",
        ),
    ];
    for (from, to, reason) in cases {
        let error = texts_with((from, to)).expect_err(to);
        let EnterpriseError::List { file, reason: text } = &error else {
            panic!("unexpected {error:?}");
        };
        assert_eq!(file, "htm-2017.toml");
        assert!(text.contains(reason), "{to}: {text}");
    }
}

fn valid_input() -> EnterpriseInput {
    EnterpriseInput {
        credit_code: format!(" {} ", synthetic_code()),
        name: "重庆某某生物制药有限公司".to_owned(),
        district: "500103".to_owned(),
        industry_codes: vec!["2762".to_owned(), "2710".to_owned()],
        declared_tags: vec!["战略性新兴产业".to_owned()],
        free_tags: vec!["重点排污单位".to_owned()],
        credit_grade: Some("good".to_owned()),
        zoning: "重点管控".to_owned(),
        distance_to_river_m: json!(1850),
        permit_number: None,
    }
}

fn synthetic_code() -> CreditCode {
    CreditCode::from_parts("91", "500103", "MA5U0001").expect("valid parts")
}

#[test]
fn valid_input_becomes_an_enterprise() {
    let code = synthetic_code();
    let mut input = valid_input();
    input.credit_code = format!(" {code} ");
    input.permit_number = Some(format!("{code}001P"));
    let enterprise = input.validate(&lists()).expect("valid");
    assert_eq!(enterprise.credit_code, code);
    assert_eq!(enterprise.credit_grade, Some(CreditGrade::Good));
    assert_eq!(enterprise.zoning, ZoningType::KeyControl);
    assert_eq!(enterprise.distance_to_river_m, 1850);
    assert_eq!(
        enterprise.tags.declared,
        vec![ClassificationTag::StrategicEmerging]
    );
    assert!(enterprise.has_classification(ClassificationTag::HighTechManufacturing));
    assert!(enterprise.has_classification(ClassificationTag::StrategicEmerging));
    assert!(!enterprise.has_classification(ClassificationTag::HighEnergyHighEmission));
    let json = serde_json::to_string(&enterprise).expect("serializes");
    let back: Enterprise = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, enterprise);
}

#[test]
fn partial_derivation_alone_is_not_a_classification() {
    let mut input = valid_input();
    input.credit_code = synthetic_code().to_string();
    input.industry_codes = vec!["2614".to_owned()];
    input.declared_tags = vec![];
    let enterprise = input.validate(&lists()).expect("valid");
    assert!(!enterprise.tags.derived.is_empty());
    assert!(!enterprise.has_classification(ClassificationTag::HighEnergyHighEmission));
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let input = EnterpriseInput {
        credit_code: "91350100M000100Y44".to_owned(),
        name: "  ".to_owned(),
        district: "510104".to_owned(),
        industry_codes: vec!["2710".to_owned(), "98".to_owned(), "2710".to_owned()],
        declared_tags: vec!["high_tech".to_owned()],
        free_tags: vec!["两高".to_owned()],
        credit_grade: Some("excellent".to_owned()),
        zoning: String::new(),
        distance_to_river_m: json!(-5),
        permit_number: Some("91130200699229617X001P".to_owned()),
    };
    let Err(EnterpriseError::Invalid(problems)) = input.validate(&lists()) else {
        panic!("expected Invalid");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "credit_code",
            "name",
            "district",
            "industry_codes[1]",
            "declared_tags[0]",
            "free_tags[0]",
            "credit_grade",
            "zoning",
            "distance_to_river_m",
        ]
    );
    assert_eq!(problems[1].reason, EnterpriseError::Missing);
    assert!(matches!(
        problems[5].reason,
        EnterpriseError::ReservedTag { .. }
    ));
}

#[test]
fn cross_field_and_list_level_problems() {
    let mut input = valid_input();
    input.credit_code = synthetic_code().to_string();
    input.industry_codes = vec!["2710".to_owned(), "2710".to_owned()];
    input.permit_number = Some("91130200699229617X001P".to_owned());
    input.district = "500222".to_owned();
    let Err(EnterpriseError::Invalid(problems)) = input.validate(&lists()) else {
        panic!("expected Invalid");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["district", "industry_codes", "permit_number"]);
    assert_eq!(
        problems[1].reason,
        EnterpriseError::Duplicate {
            value: "2710".to_owned()
        }
    );
    assert!(matches!(
        problems[2].reason,
        EnterpriseError::PermitHolder { .. }
    ));
    let message = EnterpriseError::Invalid(problems).to_string();
    assert!(
        message.starts_with("district: district 500222 (綦江县) no longer exists"),
        "{message}"
    );
}

#[test]
fn missing_fields_are_each_reported() {
    let input: EnterpriseInput = serde_json::from_str("{}").expect("all fields default");
    let Err(EnterpriseError::Invalid(problems)) = input.validate(&lists()) else {
        panic!("expected Invalid");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "credit_code",
            "name",
            "district",
            "industry_codes",
            "zoning",
            "distance_to_river_m"
        ]
    );
    assert!(
        problems
            .iter()
            .all(|p| p.reason == EnterpriseError::Missing)
    );
}

#[test]
fn blank_optional_fields_are_refused_not_ignored() {
    let mut input = valid_input();
    input.credit_grade = Some(" ".to_owned());
    input.permit_number = Some(String::new());
    let Err(EnterpriseError::Invalid(problems)) = input.validate(&lists()) else {
        panic!("expected Invalid");
    };
    let found: Vec<_> = problems
        .iter()
        .map(|p| (p.field.as_str(), p.reason.clone()))
        .collect();
    assert_eq!(
        found,
        [
            ("credit_grade", EnterpriseError::Empty),
            ("permit_number", EnterpriseError::Empty)
        ]
    );
}

#[test]
fn broken_district_files_are_refused() {
    let districts = include_str!("../../data/classifications/districts-chongqing.toml");
    let cases = [
        (
            "\"500104\", name = \"大渡口区\"",
            "\"500103\", name = \"大渡口区\"",
            "appears twice",
        ),
        (
            "\"500221\", name = \"长寿县\"",
            "\"500101\", name = \"长寿县\"",
            "must not be current",
        ),
        (
            "replaced_by = \"500115\"",
            "replaced_by = \"500221\"",
            "replaced by a current one",
        ),
        (
            "\"500101\", name = \"万州区\"",
            "\"500100\", name = \"万州区\"",
            "not a county-level",
        ),
        ("kind = \"county\"", "kind = \"city\"", "unknown variant"),
    ];
    for (from, to, reason) in cases {
        assert!(districts.contains(from), "{from}");
        let text = districts.replacen(from, to, 1);
        let error = ClassificationLists::from_texts(ListTexts {
            high_tech_manufacturing: include_str!("../../data/classifications/htm-2017.toml"),
            strategic_emerging: include_str!("../../data/classifications/sei-2018.toml"),
            high_energy_high_emission: include_str!("../../data/classifications/two-high.toml"),
            districts: &text,
        })
        .expect_err(to);
        let EnterpriseError::List { file, reason: text } = &error else {
            panic!("unexpected {error:?}");
        };
        assert_eq!(file, "districts-chongqing.toml");
        assert!(text.contains(reason), "{to}: {text}");
    }
}

#[test]
fn input_refuses_unknown_fields() {
    let error = serde_json::from_value::<EnterpriseInput>(json!({"credit_code": "x", "colour": 1}))
        .expect_err("unknown field");
    assert!(
        error.to_string().contains("unknown field `colour`"),
        "{error}"
    );
}

#[test]
fn distances() {
    let check = |value| {
        let mut input = valid_input();
        input.credit_code = synthetic_code().to_string();
        input.distance_to_river_m = value;
        input.validate(&lists()).map(|e| e.distance_to_river_m)
    };
    assert_eq!(check(json!(0)), Ok(0));
    assert_eq!(check(json!("  950 ")), Ok(950));
    assert_eq!(check(json!(1200.0)), Ok(1200));
    assert_eq!(check(json!(1_000_000)), Ok(1_000_000));
    for bad in [
        json!(-1),
        json!(12.5),
        json!("12 m"),
        json!(1_000_001),
        json!(u64::MAX),
        json!(true),
        json!(""),
    ] {
        assert!(check(bad.clone()).is_err(), "{bad}");
    }
}

#[test]
fn text_limits() {
    let mut input = valid_input();
    input.credit_code = synthetic_code().to_string();
    input.name = "厂".repeat(NAME_CHARS_MAX + 1);
    input.free_tags = vec!["a\u{7}b".to_owned(), "x".repeat(FREE_TAG_CHARS_MAX + 1)];
    let Err(EnterpriseError::Invalid(problems)) = input.validate(&lists()) else {
        panic!("expected Invalid");
    };
    let reasons: Vec<_> = problems.iter().map(|p| p.reason.clone()).collect();
    assert_eq!(
        reasons,
        [
            EnterpriseError::TooLong {
                found: NAME_CHARS_MAX + 1,
                max: NAME_CHARS_MAX
            },
            EnterpriseError::ControlCharacter { position: 2 },
            EnterpriseError::TooLong {
                found: FREE_TAG_CHARS_MAX + 1,
                max: FREE_TAG_CHARS_MAX
            },
        ]
    );
}

#[test]
fn vocabularies_accept_english_and_chinese() {
    assert_eq!(CreditGrade::parse("诚信"), Ok(CreditGrade::Exemplary));
    assert_eq!(CreditGrade::parse("poor"), Ok(CreditGrade::Poor));
    assert!(CreditGrade::parse("Poor").is_err());
    assert_eq!(
        ZoningType::parse("优先保护"),
        Ok(ZoningType::PriorityProtection)
    );
    assert_eq!(ZoningType::parse("general"), Ok(ZoningType::General));
    assert_eq!(
        ClassificationTag::parse("两高"),
        Ok(ClassificationTag::HighEnergyHighEmission)
    );
    assert_eq!(
        serde_json::to_string(&ClassificationTag::HighTechManufacturing)
            .ok()
            .as_deref(),
        Some("\"high_tech_manufacturing\"")
    );
}

/// A structurally valid 17-character body: known registration pair, existing province, an
/// organisation body with its GB 11714 check character.
fn valid_body() -> impl Strategy<Value = String> {
    let pairs = prop::sample::select(vec![
        "11", "12", "13", "19", "21", "29", "31", "35", "39", "41", "51", "52", "53", "59", "61",
        "62", "71", "72", "81", "91", "92", "93", "A1", "A9", "N1", "N2", "N3", "N9", "Y1",
    ]);
    let province = prop::sample::select(vec![10u32, 11, 31, 44, 50, 51, 65, 82]);
    let charset: Vec<char> = CHARSET.chars().collect();
    let body = prop::collection::vec(prop::sample::select(charset), 8);
    (pairs, province, 0u32..10_000, body).prop_map(|(pair, province, rest, body)| {
        let body: String = body.into_iter().collect();
        let check = CreditCode::organisation_check_char(&body).unwrap_or('0');
        format!("{pair}{province:02}{rest:04}{body}{check}")
    })
}

proptest! {
    #[test]
    fn any_charset_body_gets_a_check_char_that_balances_the_sum(
        body in prop::collection::vec(prop::sample::select(CHARSET.chars().collect::<Vec<_>>()), 17)
    ) {
        let body: String = body.into_iter().collect();
        let check = CreditCode::check_char(&body).expect("charset body");
        let weights = [1u32, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
        let value = |c: char| CHARSET.find(c).and_then(|v| u32::try_from(v).ok()).unwrap_or(99);
        let sum: u32 = body.chars().zip(weights).map(|(c, w)| value(c) * w).sum();
        prop_assert_eq!((sum + value(check)) % 31, 0);
    }

    #[test]
    fn any_valid_body_with_its_check_char_parses(body in valid_body()) {
        let code = CreditCode::with_check_char(&body).expect("structurally valid body");
        prop_assert_eq!(CreditCode::parse(code.as_str()), Ok(code.clone()));
        prop_assert_eq!(&code.as_str()[..17], body.as_str());
    }

    #[test]
    fn any_single_substitution_is_detected(
        body in valid_body(),
        position in 0usize..18,
        replacement in prop::sample::select(
            "0123456789ABCDEFGHJKLMNPQRTUWXYIOSVZa ".chars().collect::<Vec<_>>()
        ),
    ) {
        let code = CreditCode::with_check_char(&body).expect("structurally valid body");
        let mut chars: Vec<char> = code.as_str().chars().collect();
        prop_assume!(chars[position] != replacement);
        chars[position] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(CreditCode::parse(&changed).is_err(), "{} accepted", changed);
    }

    #[test]
    fn parse_never_panics(text in ".{0,24}") {
        let _ = CreditCode::parse(&text);
        let _ = PermitNumber::parse(&text);
        let _ = DistrictCode::parse(&text);
        let _ = IndustryCode::parse(&text);
    }
}
