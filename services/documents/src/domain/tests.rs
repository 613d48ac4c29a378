#![allow(clippy::unwrap_used)]

use super::*;

fn sniff(pieces: &[&[u8]], name: &str) -> Result<FileType, TypeRefusal> {
    let mut sniffer = Sniffer::default();
    for piece in pieces {
        sniffer.feed(piece)?;
    }
    sniffer.finish(name)
}

/// A ZIP's local file header for `name` (what every entry starts with).
fn zip_entry(name: &str, content: &[u8]) -> Vec<u8> {
    let mut entry = b"PK\x03\x04\x14\x00\x00\x00\x00\x00".to_vec();
    entry.extend_from_slice(&[0; 16]);
    entry.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
    entry.extend_from_slice(&[0, 0]);
    entry.extend_from_slice(name.as_bytes());
    entry.extend_from_slice(content);
    entry
}

fn padding(bytes: usize) -> Vec<u8> {
    (0..bytes).map(|i| (i % 251) as u8).collect()
}

#[test]
fn each_accepted_type_is_known_by_its_bytes() {
    assert_eq!(
        sniff(&[b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"], "계획서.pdf"),
        Ok(FileType::Pdf)
    );
    assert_eq!(
        sniff(&[b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"], "a.png"),
        Ok(FileType::Png)
    );
    assert_eq!(
        sniff(&[b"\xff\xd8\xff\xe0\0\x10JFIF"], "a.jpg"),
        Ok(FileType::Jpeg)
    );
    let mut hwp = COMPOUND_FILE.to_vec();
    hwp.extend(padding(4000));
    hwp.extend_from_slice(b"HWP Document File\0\0\0");
    assert_eq!(sniff(&[&hwp], "사업계획서.hwp"), Ok(FileType::Hwp));
    let hwpx = zip_entry("mimetype", b"application/hwp+zip");
    assert_eq!(sniff(&[&hwpx], "a.hwpx"), Ok(FileType::Hwpx));
    for (part, expected) in [
        ("word/document.xml", FileType::Docx),
        ("xl/workbook.xml", FileType::Xlsx),
        ("ppt/presentation.xml", FileType::Pptx),
        ("data/figures.bin", FileType::Zip),
    ] {
        let mut file = zip_entry("[Content_Types].xml", &padding(3000));
        file.extend(zip_entry(part, &padding(5000)));
        assert_eq!(sniff(&[&file], "x"), Ok(expected), "{part}");
    }
    assert_eq!(
        sniff(&[b"PK\x05\x06\0\0\0\0"], "empty.zip"),
        Ok(FileType::Zip)
    );
    let csv = "기업명,매출(원)\n광주AI,1200000\n".as_bytes();
    assert_eq!(sniff(&[csv], "성과.CSV"), Ok(FileType::Csv));
}

/// A PDF starts with its header (after white space or a byte-order mark at most): text that
/// only mentions one is not a PDF.
#[test]
fn a_pdf_starts_with_its_header() {
    let mut file = b"\xef\xbb\xbf  \r\n".to_vec();
    file.extend_from_slice(b"%PDF-1.4\n");
    assert_eq!(sniff(&[&file], "a.pdf"), Ok(FileType::Pdf));
    for text in [&b"REM %PDF-1.4\r\ndel *.*"[..], b"<script>//%PDF-</script>"] {
        assert_eq!(sniff(&[text], "a.pdf"), Err(TypeRefusal::Unsupported));
    }
    // Binary bytes some generators put before the header are allowed, as readers allow them.
    let mut prefixed = vec![0u8, 0x1f, 0x8b, 0x99];
    prefixed.extend_from_slice(b"%PDF-1.5\n");
    assert_eq!(sniff(&[&prefixed], "a.pdf"), Ok(FileType::Pdf));
}

/// A name that does not end as its type gets the type's ending: a PDF named `update.bat` is
/// opened as a PDF by whoever downloads it, never run.
#[test]
fn names_end_as_what_the_file_is() {
    assert_eq!(FileType::Pdf.name("계획서.PDF"), "계획서.PDF");
    assert_eq!(FileType::Pdf.name("update.bat"), "update.bat.pdf");
    assert_eq!(FileType::Jpeg.name("사진.jpeg"), "사진.jpeg");
    assert_eq!(FileType::Jpeg.name("사진.png"), "사진.png.jpg");
    assert_eq!(FileType::Zip.name("app.jar"), "app.jar.zip");
    assert_eq!(FileType::Hwp.name("보고서"), "보고서.hwp");
}

/// Markers split between two pieces, and a file fed a byte at a time, are recognised the same.
#[test]
fn pieces_do_not_change_the_answer() {
    let mut docx = zip_entry("[Content_Types].xml", &padding(2000));
    docx.extend(zip_entry("word/document.xml", b"<w:document/>"));
    let marker = docx
        .windows(DOCX_PART.len())
        .position(|w| w == DOCX_PART)
        .unwrap();
    let (a, b) = docx.split_at(marker + 7);
    assert_eq!(sniff(&[a, b], "x"), Ok(FileType::Docx));
    let bytes: Vec<&[u8]> = docx.chunks(1).collect();
    assert_eq!(sniff(&bytes, "x"), Ok(FileType::Docx));
    let pdf = b"%PDF-1.7\nrest";
    let bytes: Vec<&[u8]> = pdf.chunks(1).collect();
    assert_eq!(sniff(&bytes, "x.pdf"), Ok(FileType::Pdf));
}

/// A program renamed `.pdf` is refused at its first piece, before the rest is read.
#[test]
fn programs_are_refused_whatever_their_name() {
    for head in [
        &b"MZ\x90\0\x03\0\0\0"[..],
        b"\x7fELF\x02\x01\x01",
        b"#!/bin/sh\n",
    ] {
        let mut sniffer = Sniffer::default();
        let mut piece = head.to_vec();
        piece.extend(padding(2000));
        assert_eq!(sniffer.feed(&piece), Err(TypeRefusal::Executable));
    }
    assert_eq!(sniff(&[b"MZ"], "invoice.pdf"), Err(TypeRefusal::Executable));
}

#[test]
fn other_files_are_refused_with_a_reason() {
    assert_eq!(sniff(&[], "a.pdf"), Err(TypeRefusal::Empty));
    // A compound file without Hancom's signature: an old .doc or .xls.
    let mut doc = COMPOUND_FILE.to_vec();
    doc.extend(padding(5000));
    assert_eq!(sniff(&[&doc], "a.hwp"), Err(TypeRefusal::OtherCompoundFile));
    // Text is a CSV only by name; anything else in text is refused.
    assert_eq!(
        sniff(&[b"a,b\n1,2\n"], "a.txt"),
        Err(TypeRefusal::Unsupported)
    );
    assert_eq!(
        sniff(&[b"<svg onload=alert(1)>"], "a.csv"),
        Ok(FileType::Csv)
    );
    // Binary bytes after a text start are not a CSV.
    let mut sniffer = Sniffer::default();
    sniffer.feed(&vec![b'a'; 2000]).unwrap();
    assert_eq!(sniffer.feed(b"\0\x01\x02"), Err(TypeRefusal::Unsupported));
    assert_eq!(
        sniff(&[&padding(3000)], "a.pdf"),
        Err(TypeRefusal::Unsupported)
    );
    assert_eq!(sniff(&[b"GIF89a"], "a.gif"), Err(TypeRefusal::Unsupported));
}

#[test]
fn file_names_keep_korean_and_lose_what_could_harm() {
    // macOS sends Hangul decomposed (NFD); it is kept composed.
    let decomposed: String = "사업자등록증.pdf".nfd().collect();
    assert_ne!(decomposed, "사업자등록증.pdf");
    assert_eq!(clean_file_name(&decomposed).unwrap(), "사업자등록증.pdf");
    assert_eq!(
        clean_file_name("  계획서 (최종).hwp ").unwrap(),
        "계획서 (최종).hwp"
    );
    assert_eq!(clean_file_name("a\u{0}b\nc.pdf").unwrap(), "abc.pdf");
    // Right-to-left override: "invoice\u{202e}fdp.exe" shows as "invoiceexe.pdf".
    assert_eq!(
        clean_file_name("invoice\u{202e}fdp.exe").unwrap(),
        "invoicefdp.exe"
    );
    assert_eq!(
        clean_file_name(r#"a<b>c:d"e|f?g*.pdf"#).unwrap(),
        "a_b_c_d_e_f_g_.pdf"
    );
    assert_eq!(clean_file_name("..hidden.pdf").unwrap(), "hidden.pdf");
    assert_eq!(clean_file_name("CON.pdf").unwrap(), "_CON.pdf");
    assert_eq!(clean_file_name("com1").unwrap(), "_com1");
    assert_eq!(clean_file_name("CON .pdf").unwrap(), "_CON .pdf");
    // Zero-width and byte-order marks vanish.
    assert_eq!(clean_file_name("a\u{200b}b\u{feff}.pdf").unwrap(), "ab.pdf");
    assert_eq!(clean_file_name("COMMENTS.pdf").unwrap(), "COMMENTS.pdf");
    let long = format!("{}.pdf", "가".repeat(300));
    let short = clean_file_name(&long).unwrap();
    assert_eq!(short.chars().count(), MAX_FILE_NAME_CHARS);
    assert!(short.ends_with("가.pdf"));
}

#[test]
fn paths_and_empty_names_are_refused() {
    for path in [
        "../../etc/passwd.pdf",
        "..\\boot.ini",
        "/tmp/a.pdf",
        "dir/a.pdf",
        "..",
    ] {
        assert_eq!(clean_file_name(path), Err(NameRefusal::Path), "{path}");
    }
    for empty in ["", "   ", "...", "\u{202e}", "\n"] {
        assert_eq!(clean_file_name(empty), Err(NameRefusal::Empty), "{empty:?}");
    }
}

#[test]
fn who_may_attach_and_delete_in_each_stage() {
    use Role::*;
    use Stage::*;
    let stages = [FirmEditing, UnderReview, Running, Closed];
    for stage in stages {
        assert_eq!(
            may_attach(FirmMember, stage).is_ok(),
            matches!(stage, FirmEditing | Running),
            "firm {stage:?}"
        );
        for staff in [ProgramManager, Admin] {
            assert_eq!(
                may_attach(staff, stage).is_ok(),
                stage != Closed,
                "{staff:?} {stage:?}"
            );
        }
        for other in [Operator, Dashboard] {
            assert_eq!(
                may_attach(other, stage),
                Err(AttachRefusal::Role),
                "{other:?}"
            );
        }
        if stage == Closed {
            assert_eq!(may_attach(FirmMember, stage), Err(AttachRefusal::Stage));
        }
        assert_eq!(
            may_delete(FirmMember, stage),
            stage == FirmEditing,
            "{stage:?}"
        );
        assert_eq!(
            may_delete(ProgramManager, stage),
            matches!(stage, FirmEditing | UnderReview),
            "{stage:?}"
        );
    }
    for role in [FirmMember, ProgramManager, Admin] {
        assert!(attaches_documents(role), "{role:?}");
    }
    assert!(!attaches_documents(Operator) && !attaches_documents(Dashboard));
    assert!(!may_read(Dashboard));
    for role in [FirmMember, ProgramManager, Admin, Operator] {
        assert!(may_read(role));
    }
}

#[test]
fn sizes_read_as_megabytes() {
    assert_eq!(megabytes(25 * 1024 * 1024), "25 MB");
    assert_eq!(megabytes(1536 * 1024), "1.5 MB");
    assert_eq!(
        ParentKind::parse("OUTCOME_REPORT"),
        Some(ParentKind::OutcomeReport)
    );
}
