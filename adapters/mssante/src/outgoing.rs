//! The outgoing MSSanté message (mssante.md §3): one patient, one recipient, the IHE_XDM.zip and
//! the same documents as readable PDFs, X-MSS-* headers, byte-stable output.

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::address::{Address, Mailbox};
use crate::cda::{self, Environment};
use crate::mime::{self, CRLF, Context};
use crate::{Error, paris, text};

/// `max_message_bytes` default when the operator advertises no SIZE (mssante.md §1.4).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 10 * 1024 * 1024;
/// Mon espace santé refuses larger messages (ENS-MSS §6).
pub const PATIENT_MAX_MESSAGE_BYTES: u64 = 25_000_000;
/// The XDM marker that starts the subject of every message carrying an XDM (ECO.2.1.3).
pub const SUBJECT_PREFIX: &str = "XDM/1.0/DDM+";
/// Prefix of the libellé of an "Annule et remplace" message.
pub const REPLACEMENT_PREFIX: &str = "Annule et remplace - ";
/// Attachment name of the archive (ANS examples; readers match any case).
pub const XDM_FILE_NAME: &str = "IHE_XDM.zip";

const MAX_LABEL_CHARS: usize = 200;
const MAX_FILE_FIELD: usize = 60;

/// The sending structure's mail identity, from tenant configuration (never from the caller).
#[derive(Debug, Clone)]
pub struct Sender {
    /// The APP mailbox with its display name: `From`, `MAIL FROM`, `Disposition-Notification-To`.
    pub from: Mailbox,
    /// The structure's human ORG mailbox: `Reply-To`.
    pub reply_to: Option<Mailbox>,
    /// Structure name for the cover note.
    pub structure_name: String,
    /// Structure phone for the cover note.
    pub phone: Option<String>,
    /// Convergence product reference (`X-MSS-NIL`).
    pub nil: String,
}

/// The usager as written in the subject (birth name, first birth given name, birth date).
#[derive(Debug, Clone)]
pub struct Patient {
    pub birth_name: String,
    pub first_given_name: String,
    pub birth_date: Option<Date>,
}

/// One document in readable form: the PDF derived from the CDA.
#[derive(Debug, Clone)]
pub struct ReadablePdf<'a> {
    /// Date de l'acte (file name).
    pub act_date: Date,
    /// Type de document label (file name), e.g. "Information préoccupante".
    pub type_label: String,
    /// N° de dossier (optional, file name).
    pub dossier_number: Option<String>,
    pub data: &'a [u8],
}

/// The XDM archive and the CDA documents packed in it (as packed: X-MSS values are read from them).
#[derive(Debug, Clone)]
pub struct Xdm<'a> {
    pub zip: &'a [u8],
    pub cdas: Vec<&'a [u8]>,
}

/// Everything a message needs; built once at render, resent byte for byte on retries.
#[derive(Debug, Clone)]
pub struct OutgoingMessage<'a> {
    pub sender: &'a Sender,
    /// Makes the Message-ID `<uuid@APP-domain>` and the MIME boundaries: same on retries.
    pub message_uuid: Uuid,
    /// Render time (written in Europe/Paris time).
    pub date: OffsetDateTime,
    pub to: Address,
    /// Libellé (document title or configured label of the kind).
    pub label: String,
    pub patient: Patient,
    pub xdm: Option<Xdm<'a>>,
    pub pdfs: Vec<ReadablePdf<'a>>,
    /// Adds `Disposition-Notification-To` (MDN request).
    pub read_receipt: bool,
    /// Earlier Message-IDs this message replaces (oldest first): "Annule et remplace".
    pub replaces: Vec<String>,
    pub environment: Environment,
    /// Operator limit (EHLO SIZE, else configuration); the patient domain caps it at 25 000 000.
    pub max_message_bytes: u64,
}

/// The rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltMessage {
    /// `uuid@domain`, without angle brackets.
    pub message_id: String,
    pub subject: String,
    pub pdf_file_names: Vec<String>,
    /// `(X-MSS-CODECDA, X-MSS-INS)` when the XDM holds at least one CDA.
    pub x_mss: Option<(String, &'static str)>,
    pub bytes: Vec<u8>,
}

/// Strips whitespace and angle brackets: `<a@b>` → `a@b`.
pub fn normalize_message_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

/// `X-MSS-NIL` goes on every message we send (REQ* ECO.2.4.3), MDNs included.
pub(crate) fn check_nil(field: &'static str, nil: &str) -> Result<(), Error> {
    if nil.trim().is_empty() || !nil.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::InvalidField {
            field,
            reason: "must be a non-empty ASCII product reference",
        });
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str, max_chars: usize) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::InvalidField {
            field,
            reason: "empty",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidField {
            field,
            reason: "contains control characters",
        });
    }
    if value.chars().count() > max_chars {
        return Err(Error::InvalidField {
            field,
            reason: "too long",
        });
    }
    Ok(())
}

pub(crate) fn check_msg_id(field: &'static str, id: &str) -> Result<String, Error> {
    let id = normalize_message_id(id);
    let ok = id.len() <= 250
        && id
            .split_once('@')
            .is_some_and(|(l, r)| !l.is_empty() && !r.is_empty())
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'));
    if ok {
        Ok(id)
    } else {
        Err(Error::InvalidField {
            field,
            reason: "not a msg-id",
        })
    }
}

/// The decoded subject (§3.3): `XDM/1.0/DDM+<libellé> <NOM> <prénom> <dd/mm/yyyy>`.
pub fn subject(label: &str, patient: &Patient, with_xdm: bool, replacement: bool) -> String {
    let mut s = String::new();
    if with_xdm {
        s.push_str(SUBJECT_PREFIX);
    }
    if replacement {
        s.push_str(REPLACEMENT_PREFIX);
    }
    s.push_str(label.trim());
    s.push(' ');
    s.push_str(&patient.birth_name.trim().to_uppercase());
    s.push(' ');
    s.push_str(patient.first_given_name.trim());
    if let Some(d) = patient.birth_date {
        s.push_str(&format!(
            " {:02}/{:02}/{:04}",
            d.day(),
            u8::from(d.month()),
            d.year()
        ));
    }
    // Collapse inner whitespace so the encoded form decodes to exactly this string.
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// ECO.2.1.6 file name: `<YYYYMMDD>_<type>_<NOM>_<prénom>[_<dossier>].pdf`, ASCII-folded.
pub fn pdf_file_name(pdf: &ReadablePdf<'_>, patient: &Patient) -> String {
    let d = pdf.act_date;
    let mut parts = vec![
        format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day()),
        text::file_name_field(&pdf.type_label, MAX_FILE_FIELD),
        text::file_name_field(&patient.birth_name.to_uppercase(), MAX_FILE_FIELD).to_uppercase(),
        text::file_name_field(&patient.first_given_name, MAX_FILE_FIELD),
    ];
    if let Some(n) = &pdf.dossier_number {
        let n = text::file_name_field(n, MAX_FILE_FIELD);
        if !n.is_empty() {
            parts.push(n);
        }
    }
    parts.retain(|p| !p.is_empty());
    format!("{}.pdf", parts.join("_"))
}

fn boundary(uuid: &Uuid, n: u32) -> String {
    // "=_" cannot occur in base64 or quoted-printable text, so the boundary never collides.
    if n == 0 {
        format!("=_psl_{}", uuid.simple())
    } else {
        format!("=_psl{n}_{}", uuid.simple())
    }
}

fn cover_note(sender: &Sender, replacement: bool, attachments: &[String]) -> String {
    let mut t = String::new();
    t.push_str("Bonjour,\n\n");
    t.push_str(&format!(
        "Ce message vous est adressé par {} depuis sa messagerie sécurisée de santé (envoi automatique).\n",
        sender.structure_name.trim()
    ));
    if replacement {
        t.push_str("Il annule et remplace un envoi précédent portant sur le même document.\n");
    }
    t.push('\n');
    match &sender.reply_to {
        Some(r) => t.push_str(&format!(
            "Pour toute question, écrivez à {} (les réponses à ce message lui parviennent aussi).\n",
            r.address
        )),
        None => t.push_str("Pour toute question, répondez à ce message.\n"),
    }
    if let Some(p) = sender.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        t.push_str(&format!("Téléphone : {}\n", p.trim()));
    }
    if !attachments.is_empty() {
        t.push_str("\nPièces jointes :\n");
        for a in attachments {
            t.push_str(&format!("- {a}\n"));
        }
    }
    t.push_str(
        "\nCe message et ses pièces jointes sont confidentiels et couverts par le secret professionnel.\n",
    );
    t
}

fn attachment_part(out: &mut String, b: &str, content_type: &str, name: &str, data: &[u8]) {
    out.push_str(&format!("--{b}{CRLF}"));
    mime::header(
        out,
        "Content-Type",
        &[format!("{content_type};"), format!("name=\"{name}\"")],
    );
    out.push_str(&format!("Content-Transfer-Encoding: base64{CRLF}"));
    mime::header(
        out,
        "Content-Disposition",
        &["attachment;".to_owned(), format!("filename=\"{name}\"")],
    );
    out.push_str(CRLF);
    mime::base64_lines(out, data);
}

/// Builds the message bytes (CRLF, header order of mssante.md §3.7) and checks the size limit.
pub fn build(msg: &OutgoingMessage<'_>) -> Result<BuiltMessage, Error> {
    let sender = msg.sender;
    check_text("label", &msg.label, MAX_LABEL_CHARS)?;
    check_text("patient.birth_name", &msg.patient.birth_name, 100)?;
    check_text(
        "patient.first_given_name",
        &msg.patient.first_given_name,
        100,
    )?;
    check_text("sender.structure_name", &sender.structure_name, 200)?;
    check_nil("sender.nil", &sender.nil)?;
    let replaces = msg
        .replaces
        .iter()
        .map(|r| check_msg_id("replaces", r))
        .collect::<Result<Vec<_>, _>>()?;

    // X-MSS values from the packed CDA bytes.
    let mut facts = Vec::new();
    if let Some(x) = &msg.xdm {
        if x.zip.is_empty() {
            return Err(Error::InvalidField {
                field: "xdm.zip",
                reason: "empty",
            });
        }
        for (i, c) in x.cdas.iter().enumerate() {
            facts.push(cda::read_facts(i, c, msg.environment)?);
        }
        if !x.cdas.is_empty() && x.cdas.len() != msg.pdfs.len() {
            return Err(Error::InvalidField {
                field: "pdfs",
                reason: "one readable PDF per CDA is required",
            });
        }
    } else if !msg.pdfs.is_empty() {
        return Err(Error::InvalidField {
            field: "pdfs",
            reason: "documents travel in an XDM archive",
        });
    }
    for p in &msg.pdfs {
        if !p.data.starts_with(b"%PDF-") {
            return Err(Error::InvalidField {
                field: "pdfs.data",
                reason: "not a PDF",
            });
        }
        check_text("pdfs.type_label", &p.type_label, MAX_LABEL_CHARS)?;
    }
    let x_mss = cda::x_mss_values(&facts);

    let domain = sender.from.address.domain();
    let message_id = format!("{}@{}", msg.message_uuid.hyphenated(), domain);
    let replacement = !replaces.is_empty();
    let subject = subject(&msg.label, &msg.patient, msg.xdm.is_some(), replacement);

    let mut names: Vec<String> = Vec::new();
    for p in &msg.pdfs {
        let base = pdf_file_name(p, &msg.patient);
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) || name.eq_ignore_ascii_case(XDM_FILE_NAME) {
            name = format!("{}-{n}.pdf", base.trim_end_matches(".pdf"));
            n += 1;
        }
        names.push(name);
    }
    let mut listed = Vec::new();
    if msg.xdm.is_some() {
        listed.push(format!("{XDM_FILE_NAME} (documents CDA, format IHE XDM)"));
    }
    listed.extend(names.iter().map(|n| format!("{n} (version lisible)")));

    let b = boundary(&msg.message_uuid, 0);
    let mut out = String::new();
    mime::header_text(&mut out, "Date", &paris::rfc5322(msg.date));
    mime::header(&mut out, "From", &sender.from.header_tokens());
    if let Some(r) = &sender.reply_to {
        mime::header(&mut out, "Reply-To", &r.header_tokens());
    }
    mime::header(&mut out, "To", &[format!("<{}>", msg.to)]);
    mime::header(&mut out, "Message-ID", &[format!("<{message_id}>")]);
    if let Some(last) = replaces.last() {
        mime::header(&mut out, "In-Reply-To", &[format!("<{last}>")]);
        let refs: Vec<String> = replaces.iter().map(|r| format!("<{r}>")).collect();
        mime::header(&mut out, "References", &refs);
    }
    mime::header(
        &mut out,
        "Subject",
        &mime::encode_words(&subject, Context::Unstructured),
    );
    out.push_str(&format!("MIME-Version: 1.0{CRLF}"));
    if msg.read_receipt {
        mime::header(
            &mut out,
            "Disposition-Notification-To",
            &[format!("<{}>", sender.from.address)],
        );
    }
    mime::header_text(&mut out, "X-MSS-NIL", sender.nil.trim());
    if let Some((codes, ins)) = &x_mss {
        mime::header_text(&mut out, "X-MSS-CODECDA", codes);
        mime::header_text(&mut out, "X-MSS-INS", ins);
    }
    if msg.to.is_patient_mailbox() {
        mime::header_text(&mut out, "X-MSS-MES", "FIN");
    }
    mime::header(
        &mut out,
        "Content-Type",
        &["multipart/mixed;".to_owned(), format!("boundary=\"{b}\"")],
    );
    out.push_str(CRLF);

    out.push_str(&format!("--{b}{CRLF}"));
    out.push_str(&format!("Content-Type: text/plain; charset=UTF-8{CRLF}"));
    out.push_str(&format!(
        "Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
    ));
    mime::quoted_printable(&mut out, &cover_note(sender, replacement, &listed));
    if let Some(x) = &msg.xdm {
        attachment_part(&mut out, &b, "application/zip", XDM_FILE_NAME, x.zip);
    }
    for (p, name) in msg.pdfs.iter().zip(&names) {
        attachment_part(&mut out, &b, "application/pdf", name, p.data);
    }
    out.push_str(&format!("--{b}--{CRLF}"));

    let bytes = out.into_bytes();
    let limit = if msg.to.is_patient_mailbox() {
        msg.max_message_bytes.min(PATIENT_MAX_MESSAGE_BYTES)
    } else {
        msg.max_message_bytes
    };
    let size = bytes.len() as u64;
    if size > limit {
        return Err(Error::MessageTooLarge { size, limit });
    }
    Ok(BuiltMessage {
        message_id,
        subject,
        pdf_file_names: names,
        x_mss,
        bytes,
    })
}
