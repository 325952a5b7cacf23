//! INS checks (dmp.md §2.3): 15 characters, key = 97 − (13 digits mod 97), Corsica 2A/2B → 19/18.

/// INS OIDs: NIR, NIA, test, demo.
pub const INS_OIDS: [&str; 4] = [
    "1.2.250.1.213.1.4.8",
    "1.2.250.1.213.1.4.9",
    "1.2.250.1.213.1.4.10",
    "1.2.250.1.213.1.4.11",
];

/// True when the INS has 15 characters and a valid key.
pub fn ins_key_valid(ins: &str) -> bool {
    if ins.len() != 15 || !ins.is_ascii() {
        return false;
    }
    let (body, key) = ins.split_at(13);
    let body = match &body[5..7] {
        "2A" | "2a" => format!("{}19{}", &body[..5], &body[7..]),
        "2B" | "2b" => format!("{}18{}", &body[..5], &body[7..]),
        _ => body.to_owned(),
    };
    let (Ok(n), Ok(k)) = (body.parse::<u64>(), key.parse::<u64>()) else {
        return false;
    };
    if !body.bytes().all(|b| b.is_ascii_digit()) || !key.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    97 - (n % 97) == k
}

/// The INS as HL7 CX (`{INS}^^^&{OID}&ISO^NH`), the XDS patientId.
pub fn ins_cx(ins: &str, oid: &str) -> String {
    format!("{ins}^^^&{oid}&ISO^NH")
}

/// True for a plain OID (digits and dots, no leading zero arcs, ≤ 64 characters: dmp.md §4.4).
pub fn is_plain_oid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|arc| {
            !arc.is_empty()
                && arc.bytes().all(|b| b.is_ascii_digit())
                && (arc == "0" || !arc.starts_with('0'))
        })
        && s.contains('.')
}
