//! The operator's server-side policy configuration (specs README §1): everything else comes
//! with the request.
use std::collections::BTreeMap;

use passerelle_api::v1::MissionKind;
use serde::{Deserialize, Serialize};

use crate::error::PolicyError;

/// Who may decide that informing a person would be contrary to the child's interest (INF-3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaiverAuthorities {
    /// Missions (proto `MissionKind` names without prefix, e.g. "INSPECTEUR_ASE") whose holder may
    /// waive information under the CASF bases.
    pub missions: Vec<String>,
    /// Missions that may waive under the CSP (health) bases: the PS in charge.
    pub health_missions: Vec<String>,
}

impl Default for WaiverAuthorities {
    fn default() -> Self {
        Self {
            missions: vec![
                "INSPECTEUR_ASE".into(),
                "CRIP_RESPONSABLE".into(),
                "CHEF_DE_SERVICE".into(),
                "DIRECTEUR".into(),
            ],
            health_missions: vec!["SOIGNANT".into()],
        }
    }
}

/// DMP parameters (dmp.md §1.2, EX_GEN-1550; the operator copies the LPS parameter page).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DmpParams {
    pub age_majorite: u8,
    pub cumul_invisible_patient_masque_ps: bool,
    pub fonctions_gestion_mineurs: bool,
    /// EX_0.1-1115: minimum age for a secret connection (VIS-3).
    pub secret_connection_min_age: u8,
}

impl Default for DmpParams {
    fn default() -> Self {
        Self {
            age_majorite: 18,
            cumul_invisible_patient_masque_ps: false,
            fonctions_gestion_mineurs: true,
            secret_connection_min_age: 2,
        }
    }
}

fn d180() -> u32 {
    180
}
fn d90() -> u32 {
    90
}
fn d72() -> u32 {
    72
}
fn override_titles() -> Vec<String> {
    [
        "Chef de service",
        "Directeur",
        "Directrice",
        "Cadre de santé",
        "Inspecteur ASE",
        "Responsable CRIP",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Server-side policy configuration. Build it with [`PolicyConfig::from_toml_str`] or by hand and
/// [`PolicyConfig::validate`] it (the engine validates it again at load).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// CRIP mailbox of each département (IP-1), e.g. "93" → "crip@cd93.mssante.test".
    pub crip_mailboxes: BTreeMap<String, String>,
    #[serde(default)]
    pub waiver_authorities: WaiverAuthorities,
    /// INF-2: an information record is reusable this many days.
    #[serde(default = "d180")]
    pub info_validity_days: u32,
    /// REP-3: representatives are unsafe this many days after a judgment.
    #[serde(default = "d90")]
    pub rep_sync_grace_days: u32,
    /// Local code system of the kind codes (policy.md §3).
    pub local_code_system_oid: String,
    /// MSSanté espace de confiance: whitelisted domains (exact, case-insensitive).
    pub mss_trust_domains: Vec<String>,
    #[serde(default)]
    pub dmp: DmpParams,
    /// HD-5: delay to inform afterwards when urgency was invoked.
    #[serde(default = "d72")]
    pub inform_afterwards_hours: u32,
    /// Titles of the people who may override an overridable rule (IP-1 sender's cadre, CH-3).
    #[serde(default = "override_titles")]
    pub override_titles: Vec<String>,
}

fn is_oid(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'))
        })
        && (s.starts_with("1.") || s.starts_with("2.") || s.starts_with("0."))
}

pub(crate) fn is_departement(s: &str) -> bool {
    match s.len() {
        2 => {
            s == "2A"
                || s == "2B"
                || (s.bytes().all(|b| b.is_ascii_digit()) && s != "00" && s != "20")
        }
        3 => s.starts_with("97") && s.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

pub(crate) fn mission_from_name(name: &str) -> Option<MissionKind> {
    MissionKind::from_str_name(&format!("MISSION_KIND_{name}"))
        .filter(|m| *m != MissionKind::Unspecified)
}

fn domain_of(addr: &str) -> Option<&str> {
    let (local, dom) = addr.rsplit_once('@')?;
    (!local.is_empty() && !dom.is_empty() && dom.contains('.')).then_some(dom)
}

impl PolicyConfig {
    pub fn from_toml_str(s: &str) -> Result<Self, PolicyError> {
        let c: PolicyConfig = toml::from_str(s)
            .map_err(|e| PolicyError::config("(toml)", e.message().to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// The configuration of the embedded sandbox (docs/sandbox.md).
    pub fn sandbox() -> Self {
        let mut crip = BTreeMap::new();
        crip.insert("93".to_string(), "crip@cd93.mssante.test".to_string());
        crip.insert("75".to_string(), "crip@cd75.mssante.test".to_string());
        Self {
            crip_mailboxes: crip,
            waiver_authorities: WaiverAuthorities::default(),
            info_validity_days: 180,
            rep_sync_grace_days: 90,
            // A 2.25 UUID OID, as the spec asks of tests.
            local_code_system_oid: "2.25.171956235946158316128496146262350413125".into(),
            mss_trust_domains: [
                "cd93.mssante.test",
                "cd75.mssante.test",
                "mecs-tilleuls.mssante.test",
                "ime-horizon.mssante.test",
                "cmp-enfants.mssante.test",
                "ac-creteil.mssante.test",
                "patient.mssante.fr",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            dmp: DmpParams::default(),
            inform_afterwards_hours: 72,
            override_titles: override_titles(),
        }
    }

    /// Checks every field; the first error names the field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if !is_oid(&self.local_code_system_oid) {
            return Err(PolicyError::config(
                "local_code_system_oid",
                "must be a dotted OID (e.g. 2.25.<uuid>)",
            ));
        }
        for (dep, addr) in &self.crip_mailboxes {
            if !is_departement(dep) {
                return Err(PolicyError::config(
                    format!("crip_mailboxes.{dep}"),
                    "not a département code",
                ));
            }
            let Some(dom) = domain_of(addr) else {
                return Err(PolicyError::config(
                    format!("crip_mailboxes.{dep}"),
                    "not an e-mail address",
                ));
            };
            if !self
                .mss_trust_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(dom))
            {
                return Err(PolicyError::config(
                    format!("crip_mailboxes.{dep}"),
                    "the CRIP mailbox domain is not in mss_trust_domains",
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (dep, addr) in &self.crip_mailboxes {
            if !seen.insert(addr.to_ascii_lowercase()) {
                return Err(PolicyError::config(
                    format!("crip_mailboxes.{dep}"),
                    "the same mailbox serves two départements",
                ));
            }
        }
        if self.mss_trust_domains.is_empty() {
            return Err(PolicyError::config(
                "mss_trust_domains",
                "empty: every MSSanté recipient would be refused",
            ));
        }
        for (i, d) in self.mss_trust_domains.iter().enumerate() {
            if d.is_empty() || d.contains('@') || d.contains(' ') || !d.contains('.') {
                return Err(PolicyError::config(
                    format!("mss_trust_domains[{i}]"),
                    "not a domain name",
                ));
            }
        }
        for (name, list) in [
            ("missions", &self.waiver_authorities.missions),
            ("health_missions", &self.waiver_authorities.health_missions),
        ] {
            for (i, m) in list.iter().enumerate() {
                if mission_from_name(m).is_none() {
                    return Err(PolicyError::config(
                        format!("waiver_authorities.{name}[{i}]"),
                        format!(
                            "unknown mission {m:?} (use MissionKind names without prefix, e.g. INSPECTEUR_ASE)"
                        ),
                    ));
                }
            }
        }
        if self.info_validity_days == 0 {
            return Err(PolicyError::config(
                "info_validity_days",
                "must be at least 1",
            ));
        }
        if self.dmp.age_majorite == 0 || self.dmp.age_majorite > 21 {
            return Err(PolicyError::config(
                "dmp.age_majorite",
                "must be between 1 and 21",
            ));
        }
        if self.dmp.secret_connection_min_age >= self.dmp.age_majorite {
            return Err(PolicyError::config(
                "dmp.secret_connection_min_age",
                "must be below dmp.age_majorite",
            ));
        }
        Ok(())
    }

    pub(crate) fn in_trust_space(&self, addr: &str) -> bool {
        domain_of(addr).is_some_and(|dom| {
            self.mss_trust_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(dom))
        })
    }

    /// Canonical TOML of the configuration (input of `config_sha256`).
    pub(crate) fn canonical(&self) -> Result<String, PolicyError> {
        toml::to_string(self).map_err(|e| PolicyError::config("(serialise)", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_config_is_valid_and_roundtrips() {
        let c = PolicyConfig::sandbox();
        c.validate().expect("test");
        let back = PolicyConfig::from_toml_str(&c.canonical().expect("test")).expect("test");
        assert_eq!(back, c);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let mut c = PolicyConfig::sandbox();
        c.crip_mailboxes
            .insert("93".into(), "crip@elsewhere.example".into());
        assert!(
            matches!(c.validate(), Err(PolicyError::Config { field, .. }) if field == "crip_mailboxes.93")
        );
        let mut c = PolicyConfig::sandbox();
        c.waiver_authorities.missions.push("EDUCATEUR".into());
        assert!(
            matches!(c.validate(), Err(PolicyError::Config { field, .. }) if field == "waiver_authorities.missions[4]")
        );
        let mut c = PolicyConfig::sandbox();
        c.local_code_system_oid = "not-an-oid".into();
        assert!(c.validate().is_err());
        let unknown = "crip_mailboxes = {}\nlocal_code_system_oid = \"2.25.1\"\nmss_trust_domains = [\"a.b\"]\nbogus = 1\n";
        assert!(PolicyConfig::from_toml_str(unknown).is_err());
    }
}
