//! What a document may be and who may do what with it: pure rules, no I/O.
//!
//! - [`Sniffer`] decides a file's type from its bytes as they stream past (magic numbers at the
//!   start; for the container formats, the names inside them, which may come at the end).
//! - [`clean_file_name`] keeps a person's file name (Korean included) and nothing that could
//!   act as a path or disguise the extension.
//! - [`Stage`] and the `may_*` rules: who may attach to, or delete from, a parent in its state.

use axv_auth::Role;
use unicode_normalization::UnicodeNormalization as _;

axv_platform::string_enum!(
    /// The kinds of object a document hangs off.
    ParentKind {
    Company => "COMPANY",
    VoucherApplication => "VOUCHER_APPLICATION",
    Pilot => "PILOT",
    Milestone => "MILESTONE",
    OutcomeReport => "OUTCOME_REPORT",
});

axv_platform::string_enum!(
    /// Whether the malware scanner has passed a document (always `Clean` without a scanner).
    ScanStatus {
        Clean => "CLEAN",
        Pending => "PENDING",
        Infected => "INFECTED",
    }
);

/// Where a parent is in its life, as far as its documents are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The firm is preparing or correcting it (a draft, changes requested, a returned report,
    /// an application not yet decided, an open milestone): the firm adds and removes files,
    /// staff may add review documents.
    FirmEditing,
    /// Submitted and waiting for the programme office: staff add review documents.
    UnderReview,
    /// Approved and under way (a pilot): its companies add papers such as agreements, and staff
    /// too; nothing is removed.
    Running,
    /// Decided, verified, closed: the documents are a record and only read.
    Closed,
}

/// What the service owning a parent says of it, as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentView {
    pub kind: ParentKind,
    pub id: String,
    /// The company it belongs to (a pilot's lead company).
    pub company_id: String,
    /// An outcome report's version; 0 otherwise.
    pub version: i32,
    pub stage: Stage,
}

fn is_staff_who_reviews(role: Role) -> bool {
    matches!(role, Role::ProgramManager | Role::Admin)
}

/// Why a file may not be attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachRefusal {
    /// Operators and dashboards never attach documents.
    Role,
    /// Not in this stage: submitted, decided or closed.
    Stage,
}

/// Whether `role` attaches documents at all (operators and dashboards never do).
pub fn attaches_documents(role: Role) -> bool {
    matches!(role, Role::FirmMember | Role::ProgramManager | Role::Admin)
}

/// Whether `role` may attach a file to a parent in `stage` (the caller already sees the parent
/// in full: the owning service said so).
pub fn may_attach(role: Role, stage: Stage) -> Result<(), AttachRefusal> {
    match (role, stage) {
        (Role::FirmMember, Stage::FirmEditing | Stage::Running) => Ok(()),
        (role, Stage::FirmEditing | Stage::UnderReview | Stage::Running)
            if is_staff_who_reviews(role) =>
        {
            Ok(())
        }
        (Role::FirmMember | Role::ProgramManager | Role::Admin, _) => Err(AttachRefusal::Stage),
        _ => Err(AttachRefusal::Role),
    }
}

/// Whether the uploader may still take a file back: only while the parent is being prepared
/// (staff: also while they review it); once submitted or under way, it is part of the record.
pub fn may_delete(role: Role, stage: Stage) -> bool {
    match stage {
        Stage::FirmEditing => true,
        Stage::UnderReview => is_staff_who_reviews(role),
        Stage::Running | Stage::Closed => false,
    }
}

/// Roles that read documents at all (dashboards see figures, never papers).
pub fn may_read(role: Role) -> bool {
    !matches!(role, Role::Dashboard)
}

/// The types the platform takes, each recognised by its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Pdf,
    Png,
    Jpeg,
    /// 한글 (HWP 5), a compound file with Hancom's signature.
    Hwp,
    /// 한글 (HWPX), a ZIP whose `mimetype` says so.
    Hwpx,
    Docx,
    Xlsx,
    Pptx,
    Csv,
    Zip,
}

impl FileType {
    pub fn content_type(self) -> &'static str {
        match self {
            FileType::Pdf => "application/pdf",
            FileType::Png => "image/png",
            FileType::Jpeg => "image/jpeg",
            FileType::Hwp => "application/x-hwp",
            FileType::Hwpx => "application/hwp+zip",
            FileType::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            FileType::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            FileType::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            FileType::Csv => "text/csv",
            FileType::Zip => "application/zip",
        }
    }

    /// The name endings of this type; the first is the one added to a name without one.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            FileType::Pdf => &[".pdf"],
            FileType::Png => &[".png"],
            FileType::Jpeg => &[".jpg", ".jpeg"],
            FileType::Hwp => &[".hwp"],
            FileType::Hwpx => &[".hwpx"],
            FileType::Docx => &[".docx"],
            FileType::Xlsx => &[".xlsx"],
            FileType::Pptx => &[".pptx"],
            FileType::Csv => &[".csv"],
            FileType::Zip => &[".zip"],
        }
    }

    /// `name` with this type's ending: kept when it has one, else the type's added, so that
    /// whoever downloads the file opens it as what it is (`update.bat` holding a PDF is kept as
    /// `update.bat.pdf`, never run as a program).
    pub fn name(self, name: &str) -> String {
        let lower = name.to_lowercase();
        if self.extensions().iter().any(|ext| lower.ends_with(ext)) {
            name.to_owned()
        } else {
            format!("{name}{}", self.extensions()[0])
        }
    }
}

/// What the platform takes, for refusals' messages.
pub const ACCEPTED: &str = "PDF, PNG, JPEG, HWP, HWPX, DOCX, XLSX, PPTX, CSV or ZIP";

const PDF: &[u8] = b"%PDF-";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG: &[u8] = b"\xff\xd8\xff";
const COMPOUND_FILE: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";
const ZIP: &[u8] = b"PK\x03\x04";
const EMPTY_ZIP: &[u8] = b"PK\x05\x06";
/// Hancom's signature at the start of an HWP 5 file's `FileHeader` stream.
const HWP_SIGNATURE: &[u8] = b"HWP Document File";
/// The `mimetype` entry an HWPX file starts with.
const HWPX_MIMETYPE: &[u8] = b"application/hwp+zip";
/// Entries only each Office Open XML format has.
const DOCX_PART: &[u8] = b"word/document.xml";
const XLSX_PART: &[u8] = b"xl/workbook.xml";
const PPTX_PART: &[u8] = b"ppt/presentation.xml";
/// Bytes kept from the start of the file (the magic numbers, and a PDF's header may sit anywhere
/// in its first kilobyte).
const HEAD_BYTES: usize = 1024;
/// Bytes carried over between pieces so a name split across two is still seen.
const OVERLAP: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Not enough bytes yet to tell.
    Unknown,
    Decided(FileType),
    CompoundFile,
    Zip,
    Text,
    Refused,
}

/// Why a file's type was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeRefusal {
    #[error("the file is a program, not a document; upload {ACCEPTED}")]
    Executable,
    #[error(
        "the file is an older Office or other compound file that is not HWP; save it as PDF, DOCX, XLSX or PPTX"
    )]
    OtherCompoundFile,
    #[error("the file's type is not one the platform takes; upload {ACCEPTED}")]
    Unsupported,
    #[error("the file is empty")]
    Empty,
}

/// Decides a file's type from its bytes as they stream past, holding only its first kilobyte
/// and a few bytes between pieces.
#[derive(Debug, Clone)]
pub struct Sniffer {
    head: Vec<u8>,
    tail: Vec<u8>,
    family: Family,
    seen: usize,
    hwp_signature: bool,
    docx: bool,
    xlsx: bool,
    pptx: bool,
    /// Text so far (no NUL and no control character but tab, CR, LF, form feed, escape).
    text: bool,
}

impl Default for Sniffer {
    fn default() -> Self {
        Self {
            head: Vec::with_capacity(HEAD_BYTES),
            tail: Vec::new(),
            family: Family::Unknown,
            seen: 0,
            hwp_signature: false,
            docx: false,
            xlsx: false,
            pptx: false,
            text: true,
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn is_executable(head: &[u8]) -> bool {
    head.starts_with(b"MZ")
        || head.starts_with(b"\x7fELF")
        || head.starts_with(b"#!")
        || head.starts_with(b"\xca\xfe\xba\xbe")
        || head.starts_with(b"\xcf\xfa\xed\xfe")
        || head.starts_with(b"\xfe\xed\xfa\xcf")
}

/// The file's family from its first bytes; `Unknown` until a kilobyte (text is told from binary
/// by it) or the whole file has been seen.
fn family_of(head: &[u8], complete: bool) -> Family {
    if head.starts_with(PNG) {
        Family::Decided(FileType::Png)
    } else if head.starts_with(JPEG) {
        Family::Decided(FileType::Jpeg)
    } else if head.starts_with(COMPOUND_FILE) {
        Family::CompoundFile
    } else if head.starts_with(ZIP) || head.starts_with(EMPTY_ZIP) {
        Family::Zip
    } else if is_executable(head) {
        Family::Refused
    } else if starts_as_pdf(head) {
        Family::Decided(FileType::Pdf)
    } else if !complete && head.len() < HEAD_BYTES {
        Family::Unknown
    } else if head.iter().all(|b| is_text_byte(*b)) {
        Family::Text
    } else {
        Family::Refused
    }
}

/// A PDF's header at its start, after white space or a byte-order mark, or after binary bytes
/// within the first kilobyte (some generators put some there, and readers allow it). Never after
/// text: a text file mentioning `%PDF-` is not a PDF.
fn starts_as_pdf(head: &[u8]) -> bool {
    let Some(at) = head.windows(PDF.len()).position(|w| w == PDF) else {
        return false;
    };
    let before = &head[..at];
    let before = before.strip_prefix(b"\xef\xbb\xbf").unwrap_or(before);
    before.iter().all(u8::is_ascii_whitespace) || !before.iter().all(|b| is_text_byte(*b))
}

fn is_text_byte(b: u8) -> bool {
    b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)
}

impl Sniffer {
    /// Takes the next piece; `Err` as soon as the bytes so far rule the file out.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), TypeRefusal> {
        if data.is_empty() {
            return Ok(());
        }
        self.seen += data.len();
        if self.head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
        }
        if self.family == Family::Unknown {
            self.family = family_of(&self.head, false);
        }
        self.text = self.text && data.iter().all(|b| is_text_byte(*b));
        // Names and signatures are looked for across the join with the previous piece.
        let mut window = std::mem::take(&mut self.tail);
        let carried = window.len();
        window.extend_from_slice(&data[..data.len().min(OVERLAP)]);
        for part in [window.as_slice(), data] {
            self.hwp_signature |= contains(part, HWP_SIGNATURE);
            self.docx |= contains(part, DOCX_PART);
            self.xlsx |= contains(part, XLSX_PART);
            self.pptx |= contains(part, PPTX_PART);
        }
        // The stream's last bytes, however small the pieces.
        window.truncate(carried);
        window.extend_from_slice(&data[data.len().saturating_sub(OVERLAP)..]);
        let excess = window.len().saturating_sub(OVERLAP);
        window.drain(..excess);
        self.tail = window;
        match self.family {
            Family::Refused => Err(self.refusal()),
            Family::Text if !self.text => Err(TypeRefusal::Unsupported),
            _ => Ok(()),
        }
    }

    fn refusal(&self) -> TypeRefusal {
        if is_executable(&self.head) {
            TypeRefusal::Executable
        } else {
            TypeRefusal::Unsupported
        }
    }

    /// The type, once every byte has been fed. `file_name` counts only for text: plain text is a
    /// CSV when its name says so (nothing in its bytes can), and refused otherwise.
    pub fn finish(&self, file_name: &str) -> Result<FileType, TypeRefusal> {
        if self.seen == 0 {
            return Err(TypeRefusal::Empty);
        }
        let family = match self.family {
            Family::Unknown => family_of(&self.head, true),
            family => family,
        };
        match family {
            Family::Decided(file_type) => Ok(file_type),
            Family::CompoundFile if self.hwp_signature => Ok(FileType::Hwp),
            Family::CompoundFile => Err(TypeRefusal::OtherCompoundFile),
            Family::Zip if contains(&self.head, HWPX_MIMETYPE) => Ok(FileType::Hwpx),
            Family::Zip if self.docx => Ok(FileType::Docx),
            Family::Zip if self.xlsx => Ok(FileType::Xlsx),
            Family::Zip if self.pptx => Ok(FileType::Pptx),
            Family::Zip => Ok(FileType::Zip),
            Family::Text if self.text && file_name.to_lowercase().ends_with(".csv") => {
                Ok(FileType::Csv)
            }
            Family::Refused => Err(self.refusal()),
            Family::Text | Family::Unknown => Err(TypeRefusal::Unsupported),
        }
    }
}

/// Longest file name kept, in characters (the extension is kept whole).
pub const MAX_FILE_NAME_CHARS: usize = 120;

/// Why a file name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameRefusal {
    #[error("give the file a name")]
    Empty,
    #[error("a file name cannot hold a path (/ or \\) or point to another folder (..)")]
    Path,
}

/// A person's file name made safe to keep and to hand back in a download: Unicode NFC (macOS
/// sends Korean decomposed), no control or direction-changing characters (which can disguise
/// `exe.pdf` as `fdp.exe`), none of the characters Windows refuses, no leading dots, at most
/// [`MAX_FILE_NAME_CHARS`] characters. A name that is a path is refused rather than guessed at.
pub fn clean_file_name(raw: &str) -> Result<String, NameRefusal> {
    if raw.contains(['/', '\\']) || raw.trim() == ".." {
        return Err(NameRefusal::Path);
    }
    let name: String = raw
        .nfc()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .map(|c| if r#"<>:"|?*"#.contains(c) { '_' } else { c })
        .collect();
    let trimmed = |name: &str| {
        name.trim()
            .trim_start_matches('.')
            .trim_end_matches(['.', ' '])
            .to_owned()
    };
    let name = trimmed(&name);
    if name.is_empty() {
        return Err(NameRefusal::Empty);
    }
    let name = trimmed(&shorten(&name));
    // CON, NUL, COM1... name devices on Windows, whatever the extension.
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    let device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    Ok(if device { format!("_{name}") } else { name })
}

/// Characters that show nothing or turn text around (Unicode's format characters): they can
/// hide an extension or disguise one name as another.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

fn shorten(name: &str) -> String {
    if name.chars().count() <= MAX_FILE_NAME_CHARS {
        return name.to_owned();
    }
    let (stem, extension) = match name.rfind('.') {
        Some(dot) if name.len() - dot <= 10 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    let keep = MAX_FILE_NAME_CHARS - extension.chars().count();
    format!("{}{extension}", stem.chars().take(keep).collect::<String>())
}

/// Limits on what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in one document.
    pub max_file_bytes: u64,
    /// Bytes in all of one parent's documents (deleted ones no longer count).
    pub max_parent_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 25 * 1024 * 1024,
            max_parent_bytes: 200 * 1024 * 1024,
        }
    }
}

/// A size in megabytes as people read it (`25 MB`).
pub fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    if mb.fract() == 0.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{mb:.1} MB")
    }
}

#[cfg(test)]
mod tests;
