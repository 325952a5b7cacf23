//! ANS integration error codes 900–906 (IG-MDN `error-codes.md`, applicationErrorCondition) and
//! the subjects of ANS error mails.

use crate::text::loose;

/// Subject prefix of an MDN or mail reporting an integration error.
pub const KO_SUBJECT_PREFIX: &str = "[KO Intégration système !]";
/// Alternative subject prefix (`struct-email-standard.md`), with either apostrophe.
pub const ERROR_SUBJECT_PREFIX: &str = "[Erreur d’intégration !]";

/// An ANS error: code and label as sent (`902^Identifiant de patient inconnu^...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsError {
    pub code: u16,
    pub label: String,
}

impl AnsError {
    /// Parses `902^label^...` (HL7 components; only code and label kept) or `902 label`.
    pub fn parse(value: &str) -> Option<AnsError> {
        let v = value.trim();
        let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() != 3 {
            return None;
        }
        let code: u16 = digits.parse().ok()?;
        let rest = &v[digits.len()..];
        let label = match rest.strip_prefix('^') {
            Some(r) => r.split('^').next().unwrap_or(""),
            None => rest,
        };
        let label = label.trim().trim_start_matches([':', '-']).trim();
        let label = if label.is_empty() {
            default_label(code).to_owned()
        } else {
            label.to_owned()
        };
        Some(AnsError { code, label })
    }

    /// `code^label`, the ANS placement value.
    pub fn to_field(&self) -> String {
        format!("{}^{}", self.code, self.label)
    }

    /// Codes 900–906 are the integration errors that make a delivery `rejected`.
    pub fn is_integration_error(&self) -> bool {
        (900..=906).contains(&self.code)
    }
}

/// Default French labels (indicative, mssante.md §5.3).
pub fn default_label(code: u16) -> &'static str {
    match code {
        900 => "Version du document incorrecte",
        901 => "Auteur non autorisé à remplacer ou supprimer le document",
        902 => "Identifiant patient inconnu",
        903 => "Absence d'INS dans le document",
        904 => "INS différent de celui du consommateur",
        905 => "INS incomplet",
        906 => "Autre erreur",
        _ => "Erreur",
    }
}

/// Kind of error subject, if `subject` is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSubject {
    /// `[KO Intégration système !][code] ...`
    Ko,
    /// `[Erreur d’intégration !] ...`
    Erreur,
}

/// Recognises the two error subjects (accent-, case- and apostrophe-insensitive) and returns the
/// code given as `[90x]` right after the prefix, if any.
pub fn error_subject(subject: &str) -> Option<(ErrorSubject, Option<u16>)> {
    let l = loose(subject.trim_start());
    let (kind, rest) = if let Some(r) = l.strip_prefix(&loose(KO_SUBJECT_PREFIX)) {
        (ErrorSubject::Ko, r)
    } else if let Some(r) = l.strip_prefix(&loose(ERROR_SUBJECT_PREFIX)) {
        (ErrorSubject::Erreur, r)
    } else {
        return None;
    };
    let code = rest
        .trim_start()
        .strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .and_then(|(c, _)| c.trim().parse::<u16>().ok());
    Some((kind, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let e =
            AnsError::parse(" 902^Identifiant de patient inconnu^messageErrorCondition| E^Error");
        assert_eq!(
            e,
            Some(AnsError {
                code: 902,
                label: "Identifiant de patient inconnu".into()
            })
        );
        assert_eq!(
            AnsError::parse("906").map(|e| e.label),
            Some("Autre erreur".into())
        );
        assert_eq!(AnsError::parse("9020^x"), None);
        assert_eq!(AnsError::parse("abc"), None);
        assert_eq!(
            AnsError::parse("903 : pas d'INS").map(|e| e.label),
            Some("pas d'INS".into())
        );
    }

    #[test]
    fn subjects() {
        assert_eq!(
            error_subject("[KO Intégration système !][902] XDM/1.0/DDM+X"),
            Some((ErrorSubject::Ko, Some(902)))
        );
        assert_eq!(
            error_subject("[KO Integration systeme !] [905] XDM/1.0/DDM+X"),
            Some((ErrorSubject::Ko, Some(905)))
        );
        assert_eq!(
            error_subject("[Erreur d'intégration !] XDM/1.0/DDM+X"),
            Some((ErrorSubject::Erreur, None))
        );
        assert_eq!(
            error_subject("[Erreur d’intégration !][906] x"),
            Some((ErrorSubject::Erreur, Some(906)))
        );
        assert_eq!(error_subject("Re: [KO Intégration système !]"), None);
    }
}
