//! A structural PDF/A-1b checker (veraPDF is not installable here): the subset of ISO 19005-1
//! level B that a generator can get wrong, checked with lopdf and roxmltree.

use lopdf::{Dictionary, Document, Object};

const PDFAID_NS: &str = "http://www.aiim.org/pdfa/ns/id/";
const DC_NS: &str = "http://purl.org/dc/elements/1.1/";
const XMP_NS: &str = "http://ns.adobe.com/xap/1.0/";
const PDF_NS: &str = "http://ns.adobe.com/pdf/1.3/";
const RDF_NS: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// What the checker learnt, for further assertions.
#[derive(Debug)]
pub struct Report {
    pub pages: usize,
    pub fonts: usize,
    pub file_id: (Vec<u8>, Vec<u8>),
    pub xmp: String,
}

fn deref<'a>(doc: &'a Document, o: &'a Object) -> Result<&'a Object, String> {
    doc.dereference(o)
        .map(|(_, o)| o)
        .map_err(|e| format!("dangling reference: {e}"))
}

fn dict_of<'a>(doc: &'a Document, o: &'a Object) -> Result<&'a Dictionary, String> {
    match deref(doc, o)? {
        Object::Dictionary(d) => Ok(d),
        Object::Stream(s) => Ok(&s.dict),
        other => Err(format!(
            "expected a dictionary, got {}",
            other.enum_variant()
        )),
    }
}

fn name_of(o: &Object) -> Option<&[u8]> {
    o.as_name().ok()
}

/// XMP property value: element text, `rdf:Alt`/`rdf:Seq` first `rdf:li`, or attribute form.
fn xmp_prop(xml: &roxmltree::Document<'_>, ns: &str, local: &str) -> Option<String> {
    for node in xml.descendants() {
        if let Some(v) = node.attribute((ns, local)) {
            return Some(v.to_string());
        }
        if node.is_element()
            && node.tag_name().name() == local
            && node.tag_name().namespace() == Some(ns)
        {
            let li = node
                .descendants()
                .find(|n| n.tag_name().name() == "li" && n.tag_name().namespace() == Some(RDF_NS));
            let text = match li {
                Some(li) => li.text().unwrap_or_default().to_string(),
                None => node.text().unwrap_or_default().to_string(),
            };
            return Some(text.trim().to_string());
        }
    }
    None
}

/// "D:20261125103000+01'00'" -> "2026-11-25T10:30:00+01:00" (for comparison with XMP dates).
fn pdf_date_to_iso(d: &str) -> Option<String> {
    let d = d.strip_prefix("D:")?;
    if d.len() < 14 {
        return None;
    }
    let (date, tz) = d.split_at(14);
    let iso = format!(
        "{}-{}-{}T{}:{}:{}",
        &date[0..4],
        &date[4..6],
        &date[6..8],
        &date[8..10],
        &date[10..12],
        &date[12..14]
    );
    let tz = match tz.chars().next() {
        None => String::new(),
        Some('Z') => "Z".to_string(),
        Some(sign @ ('+' | '-')) => {
            let digits: String = tz[1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() < 4 {
                return None;
            }
            format!("{sign}{}:{}", &digits[0..2], &digits[2..4])
        }
        Some(_) => return None,
    };
    Some(format!("{iso}{tz}"))
}

fn normalise_iso(s: &str) -> String {
    s.trim().replace("+00:00", "Z")
}

/// Checks the file; returns every violation found, or the report.
pub fn check(bytes: &[u8]) -> Result<Report, Vec<String>> {
    let mut errs = Vec::new();

    // 6.1.2 header: %PDF-1.n with n <= 4, then a comment line of four bytes >= 128.
    match bytes.get(..8) {
        Some(h) if h.starts_with(b"%PDF-1.") && (b'0'..=b'4').contains(&h[7]) => {}
        _ => errs.push("header is not %PDF-1.0 .. %PDF-1.4".to_string()),
    }
    let second_line = bytes
        .iter()
        .position(|b| *b == b'\n')
        .map(|p| &bytes[p + 1..])
        .unwrap_or_default();
    if !(second_line.first() == Some(&b'%')
        && second_line.iter().skip(1).take(4).all(|b| *b >= 128))
    {
        errs.push("no binary comment line after the header".to_string());
    }
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        errs.push("no %%EOF marker at the end".to_string());
    }

    let doc = match Document::load_mem(bytes) {
        Ok(d) => d,
        Err(e) => {
            errs.push(format!("lopdf cannot parse: {e}"));
            return Err(errs);
        }
    };

    // 6.1.3 trailer: ID present, no Encrypt.
    if doc.trailer.get(b"Encrypt").is_ok() {
        errs.push("trailer has /Encrypt".to_string());
    }
    let mut file_id = (Vec::new(), Vec::new());
    match doc.trailer.get(b"ID").and_then(Object::as_array) {
        Ok(a) if a.len() == 2 => {
            let s0 = a[0].as_str().map(<[u8]>::to_vec).unwrap_or_default();
            let s1 = a[1].as_str().map(<[u8]>::to_vec).unwrap_or_default();
            if s0.is_empty() || s1.is_empty() {
                errs.push("trailer /ID has an empty string".to_string());
            }
            file_id = (s0, s1);
        }
        _ => errs.push("trailer has no /ID array of two strings".to_string()),
    }

    let catalog = match doc.catalog() {
        Ok(c) => c,
        Err(e) => {
            errs.push(format!("no catalog: {e}"));
            return Err(errs);
        }
    };

    // 6.7 XMP metadata: uncompressed stream, pdfaid:part=1, conformance=B.
    let mut xmp = String::new();
    match catalog.get(b"Metadata").and_then(|m| doc.dereference(m)) {
        Ok((_, Object::Stream(s))) => {
            if s.dict.get(b"Filter").is_ok() {
                errs.push("metadata stream is filtered".to_string());
            }
            if s.dict.get(b"Type").ok().and_then(name_of) != Some(b"Metadata")
                || s.dict.get(b"Subtype").ok().and_then(name_of) != Some(b"XML")
            {
                errs.push("metadata stream lacks /Type /Metadata /Subtype /XML".to_string());
            }
            xmp = String::from_utf8_lossy(&s.content).into_owned();
        }
        _ => errs.push("catalog has no /Metadata stream".to_string()),
    }
    let xml_body = xmp
        .find("<x:xmpmeta")
        .or_else(|| xmp.find("<rdf:RDF"))
        .and_then(|start| {
            let end_tag = if xmp[start..].starts_with("<x:xmpmeta") {
                "</x:xmpmeta>"
            } else {
                "</rdf:RDF>"
            };
            xmp.find(end_tag)
                .map(|end| &xmp[start..end + end_tag.len()])
        });
    let parsed = xml_body.map(roxmltree::Document::parse);
    let xml = match parsed {
        Some(Ok(x)) => Some(x),
        Some(Err(e)) => {
            errs.push(format!("XMP is not well-formed XML: {e}"));
            None
        }
        None => {
            errs.push("no XMP packet found".to_string());
            None
        }
    };
    if let Some(xml) = &xml {
        match xmp_prop(xml, PDFAID_NS, "part").as_deref() {
            Some("1") => {}
            other => errs.push(format!("pdfaid:part is {other:?}, expected 1")),
        }
        match xmp_prop(xml, PDFAID_NS, "conformance").as_deref() {
            Some("B") => {}
            other => errs.push(format!("pdfaid:conformance is {other:?}, expected B")),
        }
    }

    // 6.7.3 Info dictionary consistent with XMP.
    if let Ok(info) = doc.trailer.get(b"Info").and_then(|i| doc.dereference(i)) {
        if let (Object::Dictionary(info), Some(xml)) = (info.1, &xml) {
            let pairs: [(&[u8], &str, &str); 5] = [
                (b"Title", DC_NS, "title"),
                (b"Author", DC_NS, "creator"),
                (b"Subject", DC_NS, "description"),
                (b"Creator", XMP_NS, "CreatorTool"),
                (b"Producer", PDF_NS, "Producer"),
            ];
            for (key, ns, local) in pairs {
                if let Ok(v) = info.get(key) {
                    let info_v = lopdf::decode_text_string(v).unwrap_or_default();
                    let xmp_v = xmp_prop(xml, ns, local);
                    if xmp_v.as_deref() != Some(info_v.as_str()) {
                        errs.push(format!(
                            "Info /{} = {info_v:?} but XMP {local} = {xmp_v:?}",
                            String::from_utf8_lossy(key)
                        ));
                    }
                }
            }
            for (key, local) in [
                (&b"CreationDate"[..], "CreateDate"),
                (b"ModDate", "ModifyDate"),
            ] {
                if let Ok(v) = info.get(key) {
                    let info_v = lopdf::decode_text_string(v).unwrap_or_default();
                    let iso = pdf_date_to_iso(&info_v).map(|s| normalise_iso(&s));
                    let xmp_v = xmp_prop(xml, XMP_NS, local).map(|s| normalise_iso(&s));
                    if iso.is_none() || iso != xmp_v {
                        errs.push(format!(
                            "Info /{} = {info_v:?} but XMP {local} = {xmp_v:?}",
                            String::from_utf8_lossy(key)
                        ));
                    }
                }
            }
            if info.get(b"CreationDate").is_err() {
                errs.push("Info has no /CreationDate".to_string());
            }
        }
    } else {
        errs.push("trailer has no /Info dictionary".to_string());
    }

    // 6.2.2 OutputIntent: exactly one, GTS_PDFA1, with an RGB ICC profile.
    match catalog
        .get(b"OutputIntents")
        .and_then(|o| doc.dereference(o))
    {
        Ok((_, Object::Array(intents))) => {
            if intents.len() != 1 {
                errs.push(format!("{} output intents, expected 1", intents.len()));
            }
            for oi in intents {
                match dict_of(&doc, oi) {
                    Ok(d) => {
                        if d.get(b"S").ok().and_then(name_of) != Some(b"GTS_PDFA1") {
                            errs.push("output intent /S is not /GTS_PDFA1".to_string());
                        }
                        match d.get(b"DestOutputProfile").and_then(|p| doc.dereference(p)) {
                            Ok((_, Object::Stream(s))) => {
                                let icc = s
                                    .decompressed_content()
                                    .unwrap_or_else(|_| s.content.clone());
                                if icc.get(16..20) != Some(b"RGB ")
                                    || icc.get(36..40) != Some(b"acsp")
                                {
                                    errs.push(
                                        "output intent profile is not an RGB ICC profile"
                                            .to_string(),
                                    );
                                }
                            }
                            _ => errs
                                .push("output intent has no DestOutputProfile stream".to_string()),
                        }
                    }
                    Err(e) => errs.push(format!("output intent: {e}")),
                }
            }
        }
        _ => errs.push("catalog has no /OutputIntents array".to_string()),
    }

    // 6.3 fonts embedded; 6.4 no transparency; 6.6 no JavaScript; 6.1.10 no LZW; 6.1.11 no
    // embedded files.
    let mut fonts = 0;
    for (id, obj) in &doc.objects {
        let dict = match obj {
            Object::Dictionary(d) => d,
            Object::Stream(s) => &s.dict,
            _ => continue,
        };
        let what = format!("object {} {}", id.0, id.1);
        if dict.get(b"Type").ok().and_then(name_of) == Some(b"Font") {
            fonts += 1;
            let subtype = dict
                .get(b"Subtype")
                .ok()
                .and_then(name_of)
                .unwrap_or_default();
            let descriptor_owner = if subtype == b"Type0" {
                dict.get(b"DescendantFonts")
                    .and_then(|d| doc.dereference(d))
                    .ok()
                    .and_then(|(_, a)| a.as_array().ok())
                    .and_then(|a| a.first())
                    .and_then(|f| dict_of(&doc, f).ok())
            } else {
                Some(dict)
            };
            match descriptor_owner {
                None => errs.push(format!("{what}: Type0 font without DescendantFonts")),
                Some(owner) => {
                    if owner.get(b"Subtype").ok().and_then(name_of) == Some(b"CIDFontType2")
                        && owner.get(b"CIDToGIDMap").is_err()
                    {
                        errs.push(format!("{what}: CIDFontType2 without CIDToGIDMap"));
                    }
                    if subtype == b"Type3" {
                        errs.push(format!("{what}: Type3 font (not expected here)"));
                    }
                    match owner
                        .get(b"FontDescriptor")
                        .map_err(|e| e.to_string())
                        .and_then(|d| dict_of(&doc, d))
                    {
                        Ok(fd) => {
                            if fd.get(b"FontFile2").is_err()
                                && fd.get(b"FontFile3").is_err()
                                && fd.get(b"FontFile").is_err()
                            {
                                errs.push(format!("{what}: font not embedded (no FontFile*)"));
                            }
                            // 6.3.5: a CID font subset declares its glyphs in a CIDSet.
                            let subset = fd
                                .get(b"FontName")
                                .ok()
                                .and_then(name_of)
                                .is_some_and(|n| n.len() > 7 && n[6] == b'+');
                            if subset && subtype == b"Type0" && fd.get(b"CIDSet").is_err() {
                                errs.push(format!("{what}: CID font subset without CIDSet"));
                            }
                        }
                        Err(e) => errs.push(format!("{what}: no FontDescriptor ({e})")),
                    }
                }
            }
            if dict.get(b"ToUnicode").is_err() && subtype == b"Type0" {
                errs.push(format!(
                    "{what}: Type0 font without ToUnicode (text not extractable)"
                ));
            }
        }
        if let Ok(smask) = dict.get(b"SMask")
            && name_of(smask) != Some(b"None")
        {
            errs.push(format!("{what}: /SMask (transparency)"));
        }
        if let Ok(group) = dict.get(b"Group").and_then(|g| doc.dereference(g))
            && let Object::Dictionary(g) = group.1
            && g.get(b"S").ok().and_then(name_of) == Some(b"Transparency")
        {
            errs.push(format!("{what}: transparency group"));
        }
        for key in [&b"CA"[..], b"ca"] {
            if let Ok(v) = dict.get(key)
                && v.as_float().map(|f| f < 1.0).unwrap_or(true)
            {
                errs.push(format!(
                    "{what}: /{} < 1 (transparency)",
                    String::from_utf8_lossy(key)
                ));
            }
        }
        if let Ok(bm) = dict.get(b"BM")
            && !matches!(name_of(bm), Some(b"Normal" | b"Compatible"))
        {
            errs.push(format!("{what}: blend mode other than Normal"));
        }
        for key in [&b"JavaScript"[..], b"JS", b"EmbeddedFiles", b"AA"] {
            if dict.get(key).is_ok() {
                errs.push(format!(
                    "{what}: forbidden /{}",
                    String::from_utf8_lossy(key)
                ));
            }
        }
        if let Ok(f) = dict.get(b"Filter") {
            let lzw = match f {
                Object::Name(n) => n == b"LZWDecode",
                Object::Array(a) => a.iter().any(|n| name_of(n) == Some(b"LZWDecode")),
                _ => false,
            };
            if lzw {
                errs.push(format!("{what}: LZWDecode filter"));
            }
        }
    }
    if fonts == 0 {
        errs.push("no font at all (text expected)".to_string());
    }

    if errs.is_empty() {
        Ok(Report {
            pages: doc.get_pages().len(),
            fonts,
            file_id,
            xmp,
        })
    } else {
        Err(errs)
    }
}

#[test]
fn pdf_dates_convert() {
    assert_eq!(
        pdf_date_to_iso("D:20261125103000+01'00'").as_deref(),
        Some("2026-11-25T10:30:00+01:00")
    );
    assert_eq!(
        pdf_date_to_iso("D:20261125103000Z").as_deref(),
        Some("2026-11-25T10:30:00Z")
    );
    assert_eq!(pdf_date_to_iso("2026"), None);
}
