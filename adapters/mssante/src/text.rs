//! Text helpers: ASCII folding of French names for file names (ECO.2.1.6), accent-insensitive
//! comparison for subjects written by other software.

/// Folds Latin letters to ASCII (`é` → `e`, `œ` → `oe`); characters without a folding are dropped.
pub fn ascii_fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let rep = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => "A",
            'æ' => "ae",
            'Æ' => "AE",
            'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => "c",
            'Ç' | 'Ć' | 'Č' | 'Ĉ' | 'Ċ' => "C",
            'ď' | 'đ' => "d",
            'Ď' | 'Đ' => "D",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
            'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
            'ğ' | 'ĝ' | 'ġ' | 'ģ' => "g",
            'Ğ' | 'Ĝ' | 'Ġ' | 'Ģ' => "G",
            'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
            'Ì' | 'Í' | 'Î' | 'Ï' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' => "I",
            'ł' | 'ľ' | 'ĺ' | 'ļ' => "l",
            'Ł' | 'Ľ' | 'Ĺ' | 'Ļ' => "L",
            'ñ' | 'ń' | 'ň' | 'ņ' => "n",
            'Ñ' | 'Ń' | 'Ň' | 'Ņ' => "N",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
            'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ŏ' | 'Ő' => "O",
            'œ' => "oe",
            'Œ' => "OE",
            'ŕ' | 'ř' | 'ŗ' => "r",
            'Ŕ' | 'Ř' | 'Ŗ' => "R",
            'ś' | 'š' | 'ş' | 'ș' | 'ŝ' => "s",
            'Ś' | 'Š' | 'Ş' | 'Ș' | 'Ŝ' => "S",
            'ß' => "ss",
            'ť' | 'ţ' | 'ț' => "t",
            'Ť' | 'Ţ' | 'Ț' => "T",
            'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
            'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
            'ý' | 'ÿ' | 'ŷ' => "y",
            'Ý' | 'Ÿ' | 'Ŷ' => "Y",
            'ź' | 'ż' | 'ž' => "z",
            'Ź' | 'Ż' | 'Ž' => "Z",
            // Typographic apostrophes, dashes and spaces keep their role in names.
            '\u{2019}' | '\u{2018}' | '\u{02BC}' => "'",
            '\u{2010}'..='\u{2015}' => "-",
            '\u{00A0}' | '\u{202F}' | '\u{2009}' => " ",
            _ => "",
        };
        out.push_str(rep);
    }
    out
}

/// One `_`-separated field of an ECO.2.1.6 file name: ASCII-folded, spaces and apostrophes → `-`,
/// anything else outside `[A-Za-z0-9-]` dropped, runs of `-` collapsed, at most `max` characters.
pub fn file_name_field(s: &str, max: usize) -> String {
    let folded = ascii_fold(s);
    let mut out = String::new();
    for c in folded.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c
        } else if matches!(c, ' ' | '\'' | '-' | '_' | '.' | '/') {
            '-'
        } else {
            continue;
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.len() > max {
        out.truncate(max);
        while out.ends_with('-') {
            out.pop();
        }
    }
    out
}

/// Lower-case, accent-folded, apostrophes unified: for matching subjects written by other software.
pub fn loose(s: &str) -> String {
    ascii_fold(s).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding() {
        assert_eq!(ascii_fold("Léa Inès Œdipe Ståle"), "Lea Ines OEdipe Stale");
        assert_eq!(
            file_name_field("Information préoccupante", 60),
            "Information-preoccupante"
        );
        assert_eq!(
            file_name_field("L'Horizon — d’accueil", 60),
            "L-Horizon-d-accueil"
        );
        assert_eq!(file_name_field("  ***  ", 60), "");
        assert_eq!(file_name_field("abcdef-ghij", 7), "abcdef");
    }

    #[test]
    fn loose_matching() {
        assert_eq!(
            loose("[Erreur d’intégration !]"),
            "[erreur d'integration !]"
        );
    }
}
