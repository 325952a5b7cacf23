#[path = "../tests/common/fixtures.rs"]
mod fixtures;
use passerelle_api::v1::DocumentKind;
use passerelle_api::v1::document::Content;
fn main() {
    let child = fixtures::child();
    for (name, kind, content) in fixtures::all_kinds().into_iter().chain([("long_ppe", DocumentKind::Ppe, Content::Ppe(fixtures::long_ppe()))]) {
        let doc = fixtures::document(kind, "", content);
        let pdf = passerelle_pdf::render(&fixtures::ctx(&doc, &child)).unwrap();
        std::fs::write(format!("/tmp/pdfout/{name}.pdf"), pdf).unwrap();
    }
}
