use passerelle_api::v1::{DmpFlags, DocumentKind};
use passerelle_dmp::checks::{age_years, is_dmp_minor};
use passerelle_dmp::{DmpParameters, DocumentFacts, SubmissionFacts, check_submission};
use time::macros::date;

use crate::common::{INS, INS_OID};

fn flags(m: bool, i: bool, r: bool) -> DmpFlags {
    DmpFlags {
        confidentiality: "N".into(),
        masque_ps: m,
        invisible_patient: i,
        invisible_representants_legaux: r,
        stated: true,
        required_invisible_representants_legaux: false,
    }
}

fn rules(
    f: &DmpFlags,
    conf: &[&str],
    kind: DocumentKind,
    ty: (&str, &str),
    class: &str,
    tweak: impl Fn(&mut SubmissionFacts<'_>),
) -> Vec<&'static str> {
    let cx = passerelle_dmp::ins::ins_cx(INS, INS_OID);
    let docs = [DocumentFacts {
        kind,
        type_code: ty,
        class_code: class,
        cda_confidentiality: "N",
        xds_confidentiality: conf,
        patient_id: &cx,
    }];
    let mut facts = SubmissionFacts {
        ins: INS,
        ins_oid: INS_OID,
        ins_qualified: true,
        birth_date: date!(2016 - 06 - 14),
        today: date!(2026 - 03 - 02),
        local_opposition: false,
        secret_connection: false,
        vihf_confidentiality_code: None,
        flags: f,
        params: DmpParameters::default(),
        documents: &docs,
    };
    tweak(&mut facts);
    check_submission(&facts)
        .into_iter()
        .map(|v| v.rule)
        .collect()
}

const AUT: (&str, &str) = ("AUTORIS-SOINS", "1.2.250.1.213.1.1.4.12");

#[test]
fn a_correct_minor_submission_passes() {
    let f = flags(false, false, true);
    assert!(
        rules(
            &f,
            &["N", "INVISIBLE_REPRESENTANTS_LEGAUX"],
            DocumentKind::AutorisSoins,
            AUT,
            "95",
            |_| {}
        )
        .is_empty()
    );
}

#[test]
fn each_rule_refuses() {
    let ok = |f: &DmpFlags| -> Vec<&'static str> {
        let mut c = vec!["N"];
        if f.masque_ps {
            c.push("MASQUE_PS");
        }
        if f.invisible_patient {
            c.push("INVISIBLE_PATIENT");
        }
        if f.invisible_representants_legaux {
            c.push("INVISIBLE_REPRESENTANTS_LEGAUX");
        }
        c
    };
    let a = DocumentKind::AutorisSoins;
    let f = flags(true, true, false);
    assert!(rules(&f, &ok(&f), a, AUT, "95", |_| {}).contains(&"DMP-CONF-02"));
    let f = DmpFlags {
        stated: false,
        ..flags(false, false, false)
    };
    assert!(rules(&f, &["N"], a, AUT, "95", |_| {}).contains(&"DMP-CONF-01"));
    let f = flags(false, false, false);
    assert!(
        rules(&f, &["N"], a, AUT, "95", |x| x.secret_connection = true).contains(&"DMP-CONF-03")
    );
    let f = flags(false, false, true);
    assert!(
        rules(&f, &ok(&f), a, AUT, "95", |x| x.birth_date =
            date!(2000 - 01 - 01))
        .contains(&"DMP-CONF-04")
    );
    assert!(
        rules(
            &f,
            &["N", "INVISIBLE_REPRESENTANTS_LEGAUX", "MASQUE_PSOCIAL"],
            a,
            AUT,
            "95",
            |_| {}
        )
        .contains(&"DMP-CONF-05")
    );
    assert!(
        rules(
            &f,
            &["R", "INVISIBLE_REPRESENTANTS_LEGAUX"],
            a,
            AUT,
            "95",
            |_| {}
        )
        .contains(&"DMP-CONF-06")
    );
    let req = DmpFlags {
        required_invisible_representants_legaux: true,
        ..flags(false, false, false)
    };
    assert!(rules(&req, &["N"], a, AUT, "95", |_| {}).contains(&"DMP-CONF-07"));
    // Metadata that does not carry the decided flags.
    assert!(rules(&f, &["N"], a, AUT, "95", |_| {}).contains(&"DMP-CONF-07"));
    let f = flags(false, false, false);
    assert!(rules(&f, &["N"], a, AUT, "95", |x| x.ins_qualified = false).contains(&"DMP-ID-01"));
    assert!(rules(&f, &["N"], a, AUT, "95", |x| x.ins = "212069306600158").contains(&"DMP-ID-01"));
    assert!(
        rules(&f, &["N"], a, AUT, "95", |x| x.birth_date =
            date!(2027 - 01 - 01))
        .contains(&"DMP-ID-02")
    );
    assert!(rules(&f, &["N"], a, AUT, "95", |x| x.local_opposition = true).contains(&"DMP-ID-03"));
    assert!(rules(&f, &["N"], a, AUT, "10", |_| {}).contains(&"DMP-TYPE-01"));
    assert!(
        rules(
            &f,
            &["N"],
            a,
            ("EXPORT_DUI", "1.2.250.1.213.1.1.4.12"),
            "95",
            |_| {}
        )
        .contains(&"DMP-TYPE-01")
    );
    assert!(rules(&f, &["N"], DocumentKind::Ppe, AUT, "95", |_| {}).contains(&"DMP-TYPE-02"));
    assert!(
        rules(
            &f,
            &["N"],
            a,
            ("28653-4", "2.16.840.1.113883.6.1"),
            "10",
            |_| {}
        )
        .contains(&"DMP-TYPE-02")
    );
}

#[test]
fn ages_and_majority() {
    let p = DmpParameters::default();
    assert_eq!(age_years(date!(2008 - 03 - 02), date!(2026 - 03 - 02)), 18);
    assert_eq!(age_years(date!(2008 - 03 - 03), date!(2026 - 03 - 02)), 17);
    assert!(!is_dmp_minor(
        date!(2008 - 03 - 02),
        date!(2026 - 03 - 02),
        &p
    ));
    assert!(is_dmp_minor(
        date!(2008 - 03 - 03),
        date!(2026 - 03 - 02),
        &p
    ));
    // Born 29 February: 18 on 1 March of a common year.
    assert_eq!(age_years(date!(2008 - 02 - 29), date!(2026 - 02 - 28)), 17);
    assert_eq!(age_years(date!(2008 - 02 - 29), date!(2026 - 03 - 01)), 18);
    let off = DmpParameters {
        minors_management: false,
        ..p
    };
    assert!(!is_dmp_minor(
        date!(2020 - 01 - 01),
        date!(2026 - 03 - 02),
        &off
    ));
}

#[test]
fn ins_keys() {
    assert!(passerelle_dmp::ins::ins_key_valid(INS));
    assert!(!passerelle_dmp::ins::ins_key_valid("212069306600158"));
    assert!(!passerelle_dmp::ins::ins_key_valid("21206930660015"));
    // Corsica: 2A counts as 19 in the key computation.
    let n: u64 = "1850119000001".parse().expect("n");
    let ins = format!("185012A000001{:02}", 97 - n % 97);
    assert!(passerelle_dmp::ins::ins_key_valid(&ins));
    assert!(passerelle_dmp::ins::is_plain_oid("1.2.250.1"));
    assert!(!passerelle_dmp::ins::is_plain_oid("1.02.3"));
    assert!(!passerelle_dmp::ins::is_plain_oid("urn:oid:1.2"));
}
