//! MSSanté addresses: plain ASCII dot-atom `local@domain` (no SMTPUTF8, no quoted local parts).

use crate::Error;

/// The Mon espace santé patient-mailbox domain (mssante.md §4).
pub const PATIENT_DOMAIN: &str = "patient.mssante.fr";

/// A validated ASCII mailbox address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(String);

impl Address {
    /// Validates `value`; `field` names the input in the error.
    pub fn parse(field: &'static str, value: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidField { field, reason };
        let (local, domain) = value.rsplit_once('@').ok_or(bad("missing '@'"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad("local part empty or longer than 64"));
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
        if local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !local.chars().all(|c| atext(c) || c == '.')
        {
            return Err(bad("local part is not an ASCII dot-atom"));
        }
        if domain.is_empty() || domain.len() > 255 {
            return Err(bad("domain empty or too long"));
        }
        for label in domain.split('.') {
            if label.is_empty()
                || label.len() > 63
                || label.starts_with('-')
                || label.ends_with('-')
                || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(bad("domain is not an ASCII host name"));
            }
        }
        Ok(Address(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// Mon espace santé patient mailbox (`<INS>@patient.mssante.fr`).
    pub fn is_patient_mailbox(&self) -> bool {
        self.domain().eq_ignore_ascii_case(PATIENT_DOMAIN)
    }

    /// Case-insensitive on the domain, exact on the local part (RFC 5321 §2.4), but MSSanté
    /// operators treat local parts case-insensitively too: compare both ignoring ASCII case.
    pub fn same_mailbox(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other.trim())
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: Address,
}

impl Mailbox {
    pub fn new(name: Option<&str>, address: Address) -> Self {
        Mailbox {
            name: name.map(str::to_owned).filter(|n| !n.trim().is_empty()),
            address,
        }
    }

    /// Header tokens: `name <addr>` or `<addr>`.
    pub(crate) fn header_tokens(&self) -> Vec<String> {
        let mut t = match &self.name {
            Some(n) => crate::mime::phrase(n),
            None => Vec::new(),
        };
        t.push(format!("<{}>", self.address));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        assert!(Address::parse("to", "crip@cd93.mssante.test").is_ok());
        assert!(Address::parse("to", "212069306600157@patient.mssante.fr").is_ok());
        for bad in [
            "", "a", "@x.fr", "a@", "a b@x.fr", "é@x.fr", "a@x..fr", "a@-x.fr", "a.@x.fr",
        ] {
            assert!(Address::parse("to", bad).is_err(), "{bad}");
        }
        let e = Address::parse("recipient", "nope").err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("recipient: missing '@'".to_owned())
        );
    }

    #[test]
    fn patient_domain() {
        let a = Address::parse("to", "279035121518989@Patient.MSSante.fr").ok();
        assert!(a.is_some_and(|a| a.is_patient_mailbox()));
        let b = Address::parse("to", "crip@cd93.mssante.test").ok();
        assert!(b.is_some_and(|b| !b.is_patient_mailbox()));
    }
}
