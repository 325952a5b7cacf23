//! French identifiers with their check keys. Errors describe the problem without echoing the value
//! (an INS is personal data).

/// Luhn check (ISO/IEC 7812) over ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// FINESS: 9 characters, Luhn key (Corsican FINESS start with 2A/2B: the letters count as 0).
pub fn check_finess(v: &str) -> Result<(), &'static str> {
    if v.len() != 9 {
        return Err("a FINESS number has 9 characters");
    }
    let normalised: String = if v.starts_with("2A") || v.starts_with("2B") {
        format!("20{}", &v[2..])
    } else {
        v.to_string()
    };
    if !normalised.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a FINESS number has only digits (2A/2B allowed first)");
    }
    if !luhn_valid(&normalised) {
        return Err("the FINESS check key is wrong");
    }
    Ok(())
}

/// SIRET: 14 digits, Luhn key (La Poste's establishments use a digit-sum rule instead).
pub fn check_siret(v: &str) -> Result<(), &'static str> {
    if v.len() != 14 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a SIRET number has 14 digits");
    }
    if v.starts_with("356000000") {
        let sum: u32 = v.bytes().map(|b| u32::from(b - b'0')).sum();
        return if sum.is_multiple_of(5) {
            Ok(())
        } else {
            Err("the SIRET check key is wrong")
        };
    }
    if !luhn_valid(v) {
        return Err("the SIRET check key is wrong");
    }
    Ok(())
}

/// RPPS: 11 digits, Luhn key.
pub fn check_rpps(v: &str) -> Result<(), &'static str> {
    if v.len() != 11 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("an RPPS number has 11 digits");
    }
    if !luhn_valid(v) {
        return Err("the RPPS check key is wrong");
    }
    Ok(())
}

/// ADELI: 9 characters, digits (the 3rd may be a letter in some départements).
pub fn check_adeli(v: &str) -> Result<(), &'static str> {
    if v.len() != 9 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("an ADELI number has 9 characters");
    }
    Ok(())
}

/// INS OIDs accepted in requests: NIR, NIA, test, demo.
pub const INS_OID_NIR: &str = "1.2.250.1.213.1.4.8";
pub const INS_OID_NIA: &str = "1.2.250.1.213.1.4.9";
pub const INS_OID_TEST: &str = "1.2.250.1.213.1.4.10";
pub const INS_OID_DEMO: &str = "1.2.250.1.213.1.4.11";

pub fn is_ins_oid(oid: &str) -> bool {
    matches!(oid, INS_OID_NIR | INS_OID_NIA | INS_OID_TEST | INS_OID_DEMO)
}

/// INS matricule (NIR/NIA): 13 characters + 2-digit key = 97 − (number mod 97); Corsica's 2A/2B
/// count as 19/18 for the key (dmp.md §2.3).
pub fn check_ins(v: &str) -> Result<(), &'static str> {
    if v.len() != 15 || !v.is_ascii() {
        return Err("an INS matricule has 15 characters (13 + a 2-digit key)");
    }
    let (body, key) = v.split_at(13);
    let digits: String = match &body[5..7] {
        "2A" => format!("{}19{}", &body[..5], &body[7..]),
        "2B" => format!("{}18{}", &body[..5], &body[7..]),
        _ => body.to_string(),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err("an INS matricule has only digits (2A/2B allowed for Corsica)");
    }
    if !matches!(
        digits.as_bytes()[0],
        b'1' | b'2' | b'3' | b'4' | b'7' | b'8'
    ) {
        return Err("an INS matricule starts with 1, 2, 3, 4, 7 or 8");
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| "an INS matricule is not a number")?;
    let k: u64 = key.parse().map_err(|_| "the INS key is not a number")?;
    if 97 - (n % 97) != k {
        return Err("the INS check key is wrong");
    }
    Ok(())
}

/// Département code: 01–95 (2A/2B for Corsica), 971–976.
pub fn check_departement(v: &str) -> Result<(), &'static str> {
    let ok = match v.len() {
        2 => {
            v == "2A"
                || v == "2B"
                || (v.bytes().all(|b| b.is_ascii_digit())
                    && v.parse::<u32>()
                        .is_ok_and(|n| (1..=95).contains(&n) && n != 20))
        }
        3 => v.parse::<u32>().is_ok_and(|n| (971..=976).contains(&n)),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("a département code is 01–95, 2A, 2B or 971–976")
    }
}

/// Minimal e-mail address syntax check (local@domain, no spaces, one @, dotted domain).
pub fn check_mailbox(v: &str) -> Result<(), &'static str> {
    let Some((local, domain)) = v.split_once('@') else {
        return Err("an MSSanté address has the form local@domain");
    };
    if local.is_empty()
        || local.len() > 64
        || domain.len() > 253
        || !domain.contains('.')
        || domain.contains('@')
        || v.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'<' || b == b'>')
    {
        return Err("an MSSanté address has the form local@domain");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_identifiers_pass_their_keys() {
        assert!(check_siret("22930008200018").is_ok());
        assert!(check_finess("930004130").is_ok());
        assert!(check_rpps("10000001007").is_ok());
        assert!(check_ins("212069306600157").is_ok());
        assert!(check_ins("111029306600291").is_ok());
    }

    #[test]
    fn wrong_keys_are_refused() {
        assert!(check_siret("22930008200019").is_err());
        assert!(check_finess("930004131").is_err());
        assert!(check_rpps("10000001008").is_err());
        assert!(check_ins("212069306600158").is_err());
        assert!(check_ins("21206930660015").is_err());
        assert!(check_ins("612069306600157").is_err());
    }

    #[test]
    fn corsican_ins_key_uses_19_and_18() {
        // 1 85 05 2A 004 012 → body with 19 in place of 2A for the key.
        let n: u64 = "1850519004012".parse().unwrap_or(0);
        let key = 97 - n % 97;
        let ins = format!("185052A004012{key:02}");
        assert!(check_ins(&ins).is_ok(), "{ins}");
    }

    #[test]
    fn departements() {
        for ok in ["01", "93", "2A", "2B", "971", "976"] {
            assert!(check_departement(ok).is_ok(), "{ok}");
        }
        for bad in ["00", "20", "96", "977", "9", "A1", ""] {
            assert!(check_departement(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mailboxes() {
        assert!(check_mailbox("crip@cd93.mssante.test").is_ok());
        for bad in ["crip", "@x.fr", "a b@x.fr", "a@localhost", "a@b@c.fr"] {
            assert!(check_mailbox(bad).is_err(), "{bad}");
        }
    }
}
