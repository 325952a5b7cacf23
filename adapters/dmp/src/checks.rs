//! The adapter's second line of defence (dmp.md §5.3): re-checks the request about to be sent and
//! refuses it with an adapter error (origin gateway, never retryable). These ids are delivery
//! errors, never policy rules (specs README §4).

use passerelle_api::v1::{DmpFlags, DocumentKind};
use passerelle_documents::catalogue;
use time::Date;

use crate::ins::{INS_OIDS, ins_cx, ins_key_valid};

/// DMP parameters (`param-lps`, dmp.md §1.2; re-read every 24 h by the gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmpParameters {
    /// `fonctions-gestion-mineurs`.
    pub minors_management: bool,
    /// `age-majorite`.
    pub age_majorite: u8,
    /// `cumul-invisible_patient-masque_ps`.
    pub cumul_invisible_patient_masque_ps: bool,
}

impl Default for DmpParameters {
    fn default() -> Self {
        DmpParameters {
            minors_management: true,
            age_majorite: 18,
            cumul_invisible_patient_masque_ps: false,
        }
    }
}

/// One clinical document of the request, as it will be sent.
#[derive(Debug, Clone, Copy)]
pub struct DocumentFacts<'a> {
    /// Document kind (policy.md §3).
    pub kind: DocumentKind,
    /// XDS typeCode and its scheme.
    pub type_code: (&'a str, &'a str),
    /// XDS classCode.
    pub class_code: &'a str,
    /// CDA `confidentialityCode/@code`.
    pub cda_confidentiality: &'a str,
    /// XDS confidentialityCode values, in order.
    pub xds_confidentiality: &'a [&'a str],
    /// XDS patientId of the entry.
    pub patient_id: &'a str,
}

/// Everything the checks look at.
#[derive(Debug, Clone, Copy)]
pub struct SubmissionFacts<'a> {
    /// The child's INS.
    pub ins: &'a str,
    /// Its OID.
    pub ins_oid: &'a str,
    /// INS status is "qualified" in the DUI.
    pub ins_qualified: bool,
    /// Local birth date.
    pub birth_date: Date,
    /// Today (Europe/Paris date of the send time).
    pub today: Date,
    /// A local opposition to feeding is recorded (DUI flag).
    pub local_opposition: bool,
    /// Secret connection (per-child DUI flag).
    pub secret_connection: bool,
    /// The VIHF confidentiality-code about to be sent.
    pub vihf_confidentiality_code: Option<&'a str>,
    /// Flags decided by the policy.
    pub flags: &'a DmpFlags,
    /// DMP parameters.
    pub params: DmpParameters,
    /// The clinical documents.
    pub documents: &'a [DocumentFacts<'a>],
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `DMP-CONF-02`…
    pub rule: &'static str,
    /// Why (no personal data).
    pub reason: &'static str,
}

/// J58 codes (DMP-CONF-05).
pub const J58: [&str; 6] = [
    "N",
    "R",
    "V",
    "MASQUE_PS",
    "INVISIBLE_PATIENT",
    "INVISIBLE_REPRESENTANTS_LEGAUX",
];

/// typeCodes the DMP accepts but the project never feeds (dmp.md §7 "denied by default").
pub const SOCIAL_TYPE_CODES: [&str; 3] = ["28653-4", "80788-3", "34842-5"];

/// Age in whole years at `today` (a 29 February birthday falls on 1 March in common years).
pub fn age_years(birth: Date, today: Date) -> i32 {
    let mut years = today.year() - birth.year();
    if (u8::from(today.month()), today.day()) < (u8::from(birth.month()), birth.day()) {
        years -= 1;
    }
    years
}

/// Minor for the DMP (EX_GEN-1550): age < `age-majorite` while minors management is on.
pub fn is_dmp_minor(birth: Date, today: Date, p: &DmpParameters) -> bool {
    p.minors_management && age_years(birth, today) < i32::from(p.age_majorite)
}

/// Runs every check; an empty list means the request may go.
pub fn check_submission(f: &SubmissionFacts<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut deny = |rule: &'static str, reason: &'static str| {
        if !v
            .iter()
            .any(|x: &Violation| x.rule == rule && x.reason == reason)
        {
            v.push(Violation { rule, reason });
        }
    };
    // DMP-ID-01: qualified INS, valid key, INS OID; every patientId is this INS.
    if !f.ins_qualified {
        deny("DMP-ID-01", "INS is not qualified");
    }
    if !ins_key_valid(f.ins) {
        deny("DMP-ID-01", "INS is not 15 characters with a valid key");
    }
    if !INS_OIDS.contains(&f.ins_oid) {
        deny("DMP-ID-01", "INS OID is not an INS OID");
    }
    let cx = ins_cx(f.ins, f.ins_oid);
    if f.documents.iter().any(|d| d.patient_id != cx) {
        deny("DMP-ID-01", "a document patientId differs from the INS");
    }
    // DMP-ID-02: minor status from the local birth date.
    if f.birth_date > f.today {
        deny("DMP-ID-02", "birth date is in the future");
    }
    let minor = is_dmp_minor(f.birth_date, f.today, &f.params);
    // DMP-ID-03: local opposition.
    if f.local_opposition {
        deny("DMP-ID-03", "a local opposition to DMP feeding is recorded");
    }
    let fl = f.flags;
    // DMP-CONF-01: explicit statement.
    if !fl.stated {
        deny(
            "DMP-CONF-01",
            "masque_ps / invisible_patient / representatives flag not stated",
        );
    }
    // DMP-CONF-02: cumul.
    if fl.masque_ps && fl.invisible_patient && !f.params.cumul_invisible_patient_masque_ps {
        deny(
            "DMP-CONF-02",
            "MASQUE_PS with INVISIBLE_PATIENT is not allowed",
        );
    }
    // DMP-CONF-03: secret connection.
    if f.secret_connection {
        if f.vihf_confidentiality_code != Some("INVISIBLE_REPRESENTANTS_LEGAUX") {
            deny(
                "DMP-CONF-03",
                "secret connection without the VIHF confidentiality code",
            );
        }
        if !fl.invisible_representants_legaux {
            deny(
                "DMP-CONF-03",
                "secret connection without INVISIBLE_REPRESENTANTS_LEGAUX",
            );
        }
    } else if f.vihf_confidentiality_code.is_some() {
        deny(
            "DMP-CONF-03",
            "VIHF confidentiality code without a secret connection",
        );
    }
    // DMP-CONF-04: adults.
    if !minor && (fl.invisible_representants_legaux || f.secret_connection) {
        deny(
            "DMP-CONF-04",
            "representatives flag or secret connection for an adult",
        );
    }
    // DMP-CONF-07: the flags the decision requires.
    if fl.required_invisible_representants_legaux && !fl.invisible_representants_legaux {
        deny(
            "DMP-CONF-07",
            "the decision requires INVISIBLE_REPRESENTANTS_LEGAUX",
        );
    }
    if !fl.confidentiality.is_empty() && fl.confidentiality != "N" {
        deny("DMP-CONF-06", "decision confidentiality is not N");
    }
    if f.documents.is_empty() {
        deny("DMP-TYPE-01", "no clinical document");
    }
    for d in f.documents {
        // DMP-CONF-05 / 06.
        if d.xds_confidentiality.iter().any(|c| !J58.contains(c)) {
            deny("DMP-CONF-05", "confidentiality code outside JDV_J58");
        }
        if d.cda_confidentiality != "N" || d.xds_confidentiality.first() != Some(&"N") {
            deny(
                "DMP-CONF-06",
                "CDA / first XDS confidentiality code is not N",
            );
        }
        if d.xds_confidentiality
            .iter()
            .filter(|c| **c == "N" || **c == "R" || **c == "V")
            .count()
            > 1
        {
            deny("DMP-CONF-05", "more than one N/R/V code");
        }
        // DMP-CONF-07: the metadata carries exactly the decided flags.
        let has = |c: &str| d.xds_confidentiality.contains(&c);
        if has("MASQUE_PS") != fl.masque_ps
            || has("INVISIBLE_PATIENT") != fl.invisible_patient
            || has("INVISIBLE_REPRESENTANTS_LEGAUX") != fl.invisible_representants_legaux
        {
            deny(
                "DMP-CONF-07",
                "metadata flags differ from the decided flags",
            );
        }
        // DMP-TYPE-01: J66 ∩ ASS_X16, classCode looked up.
        let (code, system) = d.type_code;
        let in_j66 = catalogue::type_code(code, system).is_some_and(|t| t.in_j66);
        match catalogue::class_code_of(code, system) {
            Some(class) if in_j66 => {
                if class.code != d.class_code {
                    deny("DMP-TYPE-01", "classCode is not ASS_X16(typeCode)");
                }
            }
            _ => deny(
                "DMP-TYPE-01",
                "typeCode not in JDV_J66 with an ASS_X16 class",
            ),
        }
        // DMP-TYPE-02: kind allowed on the DMP; social codes never.
        let eligible = catalogue::kind_info(d.kind).is_some_and(|k| k.dmp_eligible());
        if !eligible {
            deny("DMP-TYPE-02", "document kind never goes to the DMP");
        }
        if SOCIAL_TYPE_CODES.contains(&code) {
            deny("DMP-TYPE-02", "social / medico-social typeCode is not fed");
        }
    }
    v
}

/// The Europe/Paris calendar date of `t` (ages and minor status are computed on it).
pub use passerelle_domain::paris::date as paris_date;

#[cfg(test)]
mod paris_tests {
    use super::paris_date;
    use time::macros::{date, datetime};

    #[test]
    fn the_french_day_starts_before_utc_midnight() {
        assert_eq!(
            paris_date(datetime!(2026-11-25 22:59 UTC)),
            date!(2026 - 11 - 25)
        );
        assert_eq!(
            paris_date(datetime!(2026-11-25 23:30 UTC)),
            date!(2026 - 11 - 26)
        );
        assert_eq!(
            paris_date(datetime!(2026-07-01 21:30 UTC)),
            date!(2026 - 07 - 01)
        );
        assert_eq!(
            paris_date(datetime!(2026-07-01 22:30 UTC)),
            date!(2026 - 07 - 02)
        );
    }
}
