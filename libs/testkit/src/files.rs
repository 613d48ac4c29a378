//! Files as people upload them, made in code: a PDF of a given size and an Office Open XML
//! file (a ZIP with the entries that make it one).

/// A PDF of about `size` bytes: a real header and trailer around filler.
pub fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    bytes.extend((0..size.saturating_sub(24)).map(|i| b"0123456789abcdef\n"[i % 17]));
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

/// A ZIP whose entries are `[Content_Types].xml` and `part` (`xl/workbook.xml` makes it an
/// Excel workbook, `word/document.xml` a Word document), each a local header and a few bytes,
/// then the end of its directory.
pub fn office_file(part: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["[Content_Types].xml", part] {
        bytes.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00");
        bytes.extend_from_slice(&[0; 16]);
        bytes.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_le_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b"<xml/>");
    }
    bytes.extend_from_slice(b"PK\x05\x06");
    bytes.extend_from_slice(&[0; 18]);
    bytes
}
