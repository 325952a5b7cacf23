//! The habilitation matrix (policy.md §6): parsed from TOML, validated at load, indexed for
//! constant-time look-ups; restriction overlays only ever clear bits.
use std::collections::{BTreeMap, HashMap};

use passerelle_api::v1::{MissionKind, StructureKind};
use serde::Deserialize;
use time::Date;

use crate::catalogue::{self, GROUP_NAMES, Group, KINDS};
use crate::config::mission_from_name;
use crate::dates::parse_date;
use crate::error::PolicyError;

/// The default matrix shipped with the crate.
pub const DEFAULT_MATRIX: &str = include_str!("../data/matrix.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixFile {
    meta: Meta,
    #[serde(default)]
    code_map: Vec<CodeMapEntry>,
    row: Vec<RowFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    version: String,
    valid_from: String,
    approved_by: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRef {
    system: String,
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeMapEntry {
    from: CodeRef,
    to: CodeRef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Matcher {
    system: Option<String>,
    #[serde(default)]
    codes: Vec<String>,
    #[serde(default)]
    structure_kinds: Vec<String>,
    #[serde(default)]
    r66: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Matcher),
    Many(Vec<Matcher>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowFile {
    id: String,
    #[serde(rename = "match")]
    matcher: OneOrMany,
    r1110_2: Option<String>,
    secret_default: String,
    #[serde(default)]
    mss: Vec<String>,
    #[serde(default)]
    mss_if_mission: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    dmp_feed: Vec<String>,
}

/// Secrecy of a row's members when the request does not say (structure mailboxes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SecretDefault {
    ByProfession,
    ByMission,
    Both,
    No,
}

/// Kinds are bits `1 << (DocumentKind as i32)`; missions bits `1 << (MissionKind as i32)`.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub id: String,
    pub r1110_2: Option<String>,
    pub secret: SecretDefault,
    pub mss: u32,
    pub mss_if_mission: [u32; 26],
    pub dmp_feed: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct Matrix {
    pub version: String,
    pub valid_from: Date,
    pub approved_by: String,
    pub rows: Vec<Row>,
    /// system → code → row index (after mapping legacy codes).
    by_code: HashMap<String, HashMap<String, usize>>,
    /// legacy system → code → (system, code).
    code_map: HashMap<String, HashMap<String, (String, String)>>,
    by_structure_kind: HashMap<i32, usize>,
    by_r66: HashMap<String, usize>,
}

fn m_err(field: String, reason: impl Into<String>) -> PolicyError {
    PolicyError::matrix(field, reason)
}

/// Resolves a kind group or kind code to a kind bit mask.
pub(crate) fn kinds_mask(name: &str) -> Option<u32> {
    if let Some((_, g)) = GROUP_NAMES.iter().find(|(n, _)| *n == name) {
        let mut m = 0;
        for k in KINDS.iter().skip(1) {
            if k.group == *g {
                m |= k.bit();
            }
        }
        return Some(m);
    }
    catalogue::kind_by_code(name).map(|k| k.bit())
}

fn social_mask() -> u32 {
    KINDS
        .iter()
        .skip(1)
        .filter(|k| k.is_social())
        .fold(0, |m, k| m | k.bit())
}

fn parse_kinds(list: &[String], field: &str) -> Result<u32, PolicyError> {
    let mut m = 0;
    for (i, name) in list.iter().enumerate() {
        let bits = kinds_mask(name).ok_or_else(|| {
            m_err(
                format!("{field}[{i}]"),
                format!("unknown kind or kind group {name:?}"),
            )
        })?;
        if m & bits != 0 {
            return Err(m_err(
                format!("{field}[{i}]"),
                format!("{name:?} overlaps an earlier entry"),
            ));
        }
        m |= bits;
    }
    Ok(m)
}

fn parse_missions(list: &[String], field: &str) -> Result<u32, PolicyError> {
    let mut m = 0;
    for (i, name) in list.iter().enumerate() {
        let mk = mission_from_name(name)
            .ok_or_else(|| m_err(format!("{field}[{i}]"), format!("unknown mission {name:?}")))?;
        m |= 1u32 << (mk as i32 as u32);
    }
    if m == 0 {
        return Err(m_err(field.to_string(), "empty mission list"));
    }
    Ok(m)
}

fn parse_if_mission(
    map: &BTreeMap<String, Vec<String>>,
    field: &str,
    uncond: u32,
) -> Result<[u32; 26], PolicyError> {
    let mut out = [0u32; 26];
    for (kinds, missions) in map {
        let f = format!("{field}.{kinds}");
        let kmask =
            kinds_mask(kinds).ok_or_else(|| m_err(f.clone(), "unknown kind or kind group"))?;
        if kmask & uncond != 0 {
            return Err(m_err(
                f,
                "contradiction: also granted unconditionally in `mss`",
            ));
        }
        let mmask = parse_missions(missions, &f)?;
        for (i, slot) in out.iter_mut().enumerate() {
            if kmask & (1u32 << i) != 0 {
                *slot |= mmask;
            }
        }
    }
    Ok(out)
}

fn structure_kind(name: &str) -> Option<StructureKind> {
    StructureKind::from_str_name(&format!("STRUCTURE_KIND_{name}"))
        .filter(|k| *k != StructureKind::Unspecified)
}

fn valid_r1110_2(s: &str) -> bool {
    s.split('/').all(|p| {
        p == "1" || (p.len() == 2 && p.starts_with('2') && (b'a'..=b'j').contains(&p.as_bytes()[1]))
    })
}

impl Matrix {
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let file: MatrixFile =
            toml::from_str(text).map_err(|e| m_err("(toml)".into(), e.message().to_string()))?;
        if file.meta.version.trim().is_empty() {
            return Err(m_err("meta.version".into(), "empty"));
        }
        if file.meta.approved_by.trim().is_empty() {
            return Err(m_err(
                "meta.approved_by".into(),
                "empty: every matrix change needs its approver",
            ));
        }
        let valid_from = parse_date(&file.meta.valid_from)
            .ok_or_else(|| m_err("meta.valid_from".into(), "not a YYYY-MM-DD date"))?;
        let social = social_mask();
        let mut rows = Vec::with_capacity(file.row.len());
        let mut by_code: HashMap<String, HashMap<String, usize>> = HashMap::new();
        let mut by_structure_kind = HashMap::new();
        let mut by_r66 = HashMap::new();
        let mut ids = HashMap::new();
        for (ri, r) in file.row.iter().enumerate() {
            let f = format!("row[{ri}]");
            if r.id.is_empty() {
                return Err(m_err(format!("{f}.id"), "empty"));
            }
            if ids.insert(r.id.clone(), ri).is_some() {
                return Err(m_err(
                    format!("{f}.id"),
                    format!("duplicate row id {:?}", r.id),
                ));
            }
            let secret = match r.secret_default.as_str() {
                "ByProfession" => SecretDefault::ByProfession,
                "ByMission" => SecretDefault::ByMission,
                "Both" => SecretDefault::Both,
                "No" | "Unknown" => SecretDefault::No,
                other => {
                    return Err(m_err(
                        format!("{f}.secret_default"),
                        format!("{other:?} is not ByProfession, ByMission, Both, No or Unknown"),
                    ));
                }
            };
            if let Some(c) = &r.r1110_2
                && !valid_r1110_2(c)
            {
                return Err(m_err(
                    format!("{f}.r1110_2"),
                    format!("{c:?} is not an R.1110-2 category (1, 2a..2j)"),
                ));
            }
            let mss = parse_kinds(&r.mss, &format!("{f}.mss"))?;
            let mss_if_mission =
                parse_if_mission(&r.mss_if_mission, &format!("{f}.mss_if_mission"), mss)?;
            let dmp_feed = parse_kinds(&r.dmp_feed, &format!("{f}.dmp_feed"))?;
            if dmp_feed & social != 0 {
                return Err(m_err(
                    format!("{f}.dmp_feed"),
                    "social kinds never go to the DMP (specs README §4)",
                ));
            }
            let matchers: Vec<&Matcher> = match &r.matcher {
                OneOrMany::One(m) => vec![m],
                OneOrMany::Many(v) => v.iter().collect(),
            };
            if matchers.is_empty() {
                return Err(m_err(format!("{f}.match"), "empty"));
            }
            for (mi, m) in matchers.iter().enumerate() {
                let mf = format!("{f}.match[{mi}]");
                let used = usize::from(m.system.is_some())
                    + usize::from(!m.structure_kinds.is_empty())
                    + usize::from(!m.r66.is_empty());
                if used != 1 {
                    return Err(m_err(
                        mf,
                        "a matcher has exactly one of system+codes, structure_kinds, r66",
                    ));
                }
                if let Some(sys) = &m.system {
                    if m.codes.is_empty() {
                        return Err(m_err(format!("{mf}.codes"), "empty"));
                    }
                    for (ci, code) in m.codes.iter().enumerate() {
                        match catalogue::is_known_code(sys, code) {
                            Err(()) => {
                                return Err(m_err(
                                    format!("{mf}.system"),
                                    format!("unknown code system {sys:?}"),
                                ));
                            }
                            Ok(false) => {
                                return Err(m_err(
                                    format!("{mf}.codes[{ci}]"),
                                    format!("unknown code {code:?} in {sys}"),
                                ));
                            }
                            Ok(true) => {}
                        }
                        if let Some(prev) = by_code
                            .entry(sys.clone())
                            .or_default()
                            .insert(code.clone(), ri)
                        {
                            return Err(m_err(
                                format!("{mf}.codes[{ci}]"),
                                format!(
                                    "contradiction: code {code} already matched by row {:?}",
                                    file.row[prev].id
                                ),
                            ));
                        }
                    }
                } else if !m.codes.is_empty() {
                    return Err(m_err(format!("{mf}.codes"), "codes without system"));
                }
                for (si, sk) in m.structure_kinds.iter().enumerate() {
                    let k = structure_kind(sk).ok_or_else(|| {
                        m_err(
                            format!("{mf}.structure_kinds[{si}]"),
                            format!("unknown structure kind {sk:?}"),
                        )
                    })?;
                    if let Some(prev) = by_structure_kind.insert(k as i32, ri) {
                        return Err(m_err(
                            format!("{mf}.structure_kinds[{si}]"),
                            format!(
                                "contradiction: already matched by row {:?}",
                                file.row[prev].id
                            ),
                        ));
                    }
                }
                for (ci, c) in m.r66.iter().enumerate() {
                    if c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(m_err(
                            format!("{mf}.r66[{ci}]"),
                            format!("{c:?} is not a TRE_R66 code"),
                        ));
                    }
                    if let Some(prev) = by_r66.insert(c.clone(), ri) {
                        return Err(m_err(
                            format!("{mf}.r66[{ci}]"),
                            format!(
                                "contradiction: already matched by row {:?}",
                                file.row[prev].id
                            ),
                        ));
                    }
                }
            }
            rows.push(Row {
                id: r.id.clone(),
                r1110_2: r.r1110_2.clone(),
                secret,
                mss,
                mss_if_mission,
                dmp_feed,
            });
        }
        let mut code_map: HashMap<String, HashMap<String, (String, String)>> = HashMap::new();
        for (i, e) in file.code_map.iter().enumerate() {
            let f = format!("code_map[{i}]");
            for (side, c) in [("from", &e.from), ("to", &e.to)] {
                match catalogue::is_known_code(&c.system, &c.code) {
                    Err(()) => {
                        return Err(m_err(
                            format!("{f}.{side}.system"),
                            format!("unknown code system {:?}", c.system),
                        ));
                    }
                    Ok(false) => {
                        return Err(m_err(
                            format!("{f}.{side}.code"),
                            format!("unknown code {:?}", c.code),
                        ));
                    }
                    Ok(true) => {}
                }
            }
            if by_code
                .get(&e.from.system)
                .is_some_and(|m| m.contains_key(&e.from.code))
            {
                return Err(m_err(
                    format!("{f}.from"),
                    "contradiction: a mapped legacy code is also matched by a row",
                ));
            }
            let prev = code_map.entry(e.from.system.clone()).or_default().insert(
                e.from.code.clone(),
                (e.to.system.clone(), e.to.code.clone()),
            );
            if prev.is_some() {
                return Err(m_err(
                    format!("{f}.from"),
                    "contradiction: legacy code mapped twice",
                ));
            }
        }
        for (i, e) in file.code_map.iter().enumerate() {
            if code_map
                .get(&e.to.system)
                .is_some_and(|m| m.contains_key(&e.to.code))
            {
                return Err(m_err(
                    format!("code_map[{i}].to"),
                    "mapping chains are not allowed",
                ));
            }
        }
        Ok(Matrix {
            version: file.meta.version,
            valid_from,
            approved_by: file.meta.approved_by,
            rows,
            by_code,
            code_map,
            by_structure_kind,
            by_r66,
        })
    }

    pub fn row_index(&self, id: &str) -> Option<usize> {
        self.rows.iter().position(|r| r.id == id)
    }

    /// Row of a professional code, the legacy code mapped first (HAB-1).
    pub fn row_for_code(&self, system: &str, code: &str) -> Option<usize> {
        let (sys, c) = match self.code_map.get(system).and_then(|m| m.get(code)) {
            Some((s, c)) => (s.as_str(), c.as_str()),
            None => (system, code),
        };
        self.by_code.get(sys).and_then(|m| m.get(c)).copied()
    }

    pub fn row_for_structure(&self, kind: i32, r66: &str) -> Option<usize> {
        if !r66.is_empty()
            && let Some(i) = self.by_r66.get(r66)
        {
            return Some(*i);
        }
        self.by_structure_kind.get(&kind).copied()
    }
}

// ---- Overlays ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverlayFile {
    meta: OverlayMeta,
    scope: Scope,
    remove: Vec<RemoveFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverlayMeta {
    id: String,
    version: String,
    approved_by: String,
    valid_from: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scope {
    tenant: Option<String>,
    departement: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveFile {
    row: String,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    mss: Vec<String>,
    #[serde(default)]
    mss_if_mission: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    dmp_feed: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OverlayScope {
    Tenant(String),
    Departement(String),
}

/// Bits an overlay clears from one row.
#[derive(Clone, Debug)]
pub(crate) struct Removal {
    pub row: usize,
    pub mss: u32,
    pub mss_if_mission: [u32; 26],
    pub dmp_feed: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct Overlay {
    pub id: String,
    pub version: String,
    pub scope: OverlayScope,
    pub valid_from: Date,
    pub removals: Vec<Removal>,
}

impl Overlay {
    pub fn parse(text: &str, matrix: &Matrix) -> Result<Self, PolicyError> {
        let o_err = |id: &str, field: String, reason: String| PolicyError::Overlay {
            overlay: id.to_string(),
            field,
            reason,
        };
        let file: OverlayFile = toml::from_str(text)
            .map_err(|e| o_err("?", "(toml)".into(), e.message().to_string()))?;
        let id = file.meta.id.clone();
        if id.is_empty() {
            return Err(o_err("?", "meta.id".into(), "empty".into()));
        }
        if file.meta.approved_by.trim().is_empty() {
            return Err(o_err(&id, "meta.approved_by".into(), "empty".into()));
        }
        let valid_from = parse_date(&file.meta.valid_from).ok_or_else(|| {
            o_err(
                &id,
                "meta.valid_from".into(),
                "not a YYYY-MM-DD date".into(),
            )
        })?;
        let scope = match (file.scope.tenant, file.scope.departement) {
            (Some(t), None) if !t.is_empty() => OverlayScope::Tenant(t),
            (None, Some(d)) if crate::config::is_departement(&d) => OverlayScope::Departement(d),
            _ => {
                return Err(o_err(
                    &id,
                    "scope".into(),
                    "exactly one of tenant or departement (a valid code)".into(),
                ));
            }
        };
        if file.remove.is_empty() {
            return Err(o_err(&id, "remove".into(), "empty".into()));
        }
        let mut removals = Vec::with_capacity(file.remove.len());
        for (i, r) in file.remove.iter().enumerate() {
            let f = format!("remove[{i}]");
            let row = matrix.row_index(&r.row).ok_or_else(|| {
                o_err(
                    &id,
                    format!("{f}.row"),
                    format!("unknown matrix row {:?}", r.row),
                )
            })?;
            let base = &matrix.rows[row];
            let rem = if r.all {
                if !r.mss.is_empty() || !r.mss_if_mission.is_empty() || !r.dmp_feed.is_empty() {
                    return Err(o_err(&id, f, "`all = true` excludes other fields".into()));
                }
                Removal {
                    row,
                    mss: u32::MAX,
                    mss_if_mission: [u32::MAX; 26],
                    dmp_feed: u32::MAX,
                }
            } else {
                let map = |e: PolicyError| match e {
                    PolicyError::Matrix { field, reason } => o_err(&id, field, reason),
                    other => other,
                };
                let mss = parse_kinds(&r.mss, &format!("{f}.mss")).map_err(map)?;
                let dmp_feed = parse_kinds(&r.dmp_feed, &format!("{f}.dmp_feed")).map_err(map)?;
                let mim = parse_if_mission(&r.mss_if_mission, &format!("{f}.mss_if_mission"), 0)
                    .map_err(map)?;
                // An overlay removes rights the row grants; anything else is a contradiction.
                if mss & !base.mss != 0 {
                    return Err(o_err(
                        &id,
                        format!("{f}.mss"),
                        format!("removes a right row {:?} does not grant", base.id),
                    ));
                }
                if dmp_feed & !base.dmp_feed != 0 {
                    return Err(o_err(
                        &id,
                        format!("{f}.dmp_feed"),
                        format!("removes a right row {:?} does not grant", base.id),
                    ));
                }
                for (m, b) in mim.iter().zip(base.mss_if_mission.iter()) {
                    if m & !b != 0 {
                        return Err(o_err(
                            &id,
                            format!("{f}.mss_if_mission"),
                            format!("removes a mission right row {:?} does not grant", base.id),
                        ));
                    }
                }
                if mss == 0 && dmp_feed == 0 && mim.iter().all(|m| *m == 0) {
                    return Err(o_err(&id, f, "removes nothing".into()));
                }
                Removal {
                    row,
                    mss,
                    mss_if_mission: mim,
                    dmp_feed,
                }
            };
            removals.push(rem);
        }
        Ok(Overlay {
            id,
            version: file.meta.version,
            scope,
            valid_from,
            removals,
        })
    }
}

/// The rights of one row after the overlays applying to a request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rights {
    pub mss: u32,
    pub mss_if_mission: [u32; 26],
    pub dmp_feed: u32,
}

impl Rights {
    pub fn of(row: &Row, overlays: &[&Overlay], row_idx: usize) -> Self {
        let mut r = Rights {
            mss: row.mss,
            mss_if_mission: row.mss_if_mission,
            dmp_feed: row.dmp_feed,
        };
        for o in overlays {
            for rem in o.removals.iter().filter(|x| x.row == row_idx) {
                r.mss &= !rem.mss;
                r.dmp_feed &= !rem.dmp_feed;
                for (m, x) in r.mss_if_mission.iter_mut().zip(rem.mss_if_mission.iter()) {
                    *m &= !x;
                }
            }
        }
        r
    }

    /// May receive `kind` by MSSanté, given the recipient's current missions.
    pub fn receives(&self, kind_bit: u32, kind_idx: usize, missions: u32) -> bool {
        self.mss & kind_bit != 0
            || self
                .mss_if_mission
                .get(kind_idx)
                .is_some_and(|m| m & missions != 0)
    }
}

pub(crate) fn mission_bit(m: i32) -> u32 {
    if (1..=31).contains(&m) { 1u32 << m } else { 0 }
}

#[allow(dead_code)]
pub(crate) fn mission_name(m: MissionKind) -> &'static str {
    m.as_str_name().trim_start_matches("MISSION_KIND_")
}

#[allow(dead_code)]
pub(crate) fn group_name(g: Group) -> &'static str {
    GROUP_NAMES
        .iter()
        .find(|(_, x)| *x == g)
        .map(|(n, _)| *n)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matrix_loads() {
        let m = Matrix::parse(DEFAULT_MATRIX).expect("test");
        assert_eq!(m.version, "1.0.0");
        let educ = m.row_for_code(catalogue::OID_R85, "326").expect("test");
        // Legacy R94 51 (éducateur spécialisé) maps to R85 326.
        assert_eq!(m.row_for_code(catalogue::OID_R94, "51"), Some(educ));
        assert_eq!(m.rows[educ].id, "educatif_social");
        assert!(m.row_for_code(catalogue::OID_R85, "301").is_none());
        assert_eq!(
            m.rows[m
                .row_for_structure(StructureKind::Essms as i32, "177")
                .expect("test")]
            .id,
            "essms_protection_enfance"
        );
    }

    fn replace(from: &str, to: &str) -> String {
        assert!(DEFAULT_MATRIX.contains(from), "{from}");
        DEFAULT_MATRIX.replacen(from, to, 1)
    }

    #[test]
    fn invalid_matrices_fail_at_load_with_the_field() {
        let cases = [
            (
                replace("codes = [\"10\"]", "codes = [\"10\", \"999\"]"),
                "row[0].match[0].codes[1]",
            ),
            (
                replace("codes = [\"10\"]", "codes = [\"10\", \"60\"]"),
                "row[1].match[0].codes[1]",
            ),
            (replace("id = \"pmi\"", "id = \"crip\""), "row[16].id"),
            (
                replace("dmp_feed = [\"PSY\"]", "dmp_feed = [\"PSY\", \"PPE\"]"),
                "row[4].dmp_feed",
            ),
            (
                replace(
                    "mss = [\"SOCIAL_PE\"]",
                    "mss = [\"SOCIAL_PE\", \"HOLIDAY\"]",
                ),
                "row[10].mss[1]",
            ),
            (
                replace(
                    "IP_EVAL = [\"CRIP_EVALUATOR\"] }\ndmp_feed = []\n\n[[row]]\nid = \"educatif_medico_social\"",
                    "IP_EVAL = [\"BABYSITTER\"] }\ndmp_feed = []\n\n[[row]]\nid = \"educatif_medico_social\"",
                ),
                "row[6].mss_if_mission.IP_EVAL[0]",
            ),
            (
                replace(
                    "system = \"1.2.250.1.213.1.6.1.109\"",
                    "system = \"1.2.3.4\"",
                ),
                "row[4].match[0].system",
            ),
            (
                replace(
                    "structure_kinds = [\"MDPH\"]",
                    "structure_kinds = [\"CRIP\"]",
                ),
                "row[17].match[0].structure_kinds[0]",
            ),
        ];
        for (text, field) in cases {
            match Matrix::parse(&text) {
                Err(PolicyError::Matrix { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected matrix error at {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn overlays_only_remove_and_are_validated() {
        let m = Matrix::parse(DEFAULT_MATRIX).expect("test");
        let ok = "[meta]\nid = \"o\"\nversion = \"1\"\napproved_by = \"DPO\"\nvalid_from = \"2026-01-01\"\n[scope]\ndepartement = \"93\"\n[[remove]]\nrow = \"educatif_social\"\nmss = [\"HEALTH_DAILY\"]\n";
        let o = Overlay::parse(ok, &m).expect("test");
        let row = m.row_index("educatif_social").expect("test");
        let r = Rights::of(&m.rows[row], &[&o], row);
        let liaison = catalogue::kind_by_code("LIAISON_URG").expect("test");
        assert!(!r.receives(liaison.bit(), liaison.kind as usize, u32::MAX));
        // Adding is not expressible; removing what is not granted is a contradiction.
        assert!(Overlay::parse(&ok.replace("remove]]", "add]]"), &m).is_err());
        assert!(Overlay::parse(&ok.replace("HEALTH_DAILY", "PSY"), &m).is_err());
        assert!(Overlay::parse(&ok.replace("educatif_social", "nobody"), &m).is_err());
        assert!(
            Overlay::parse(
                &ok.replace("departement = \"93\"", "departement = \"999\""),
                &m
            )
            .is_err()
        );
    }
}
