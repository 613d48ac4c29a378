//! Documents' errors: the refusals every service shares, and a file's own.

use axv_platform::error::{DomainError, ErrorCode, Reason};

use crate::domain::{NameRefusal, TypeRefusal, megabytes};

/// What only a file can be refused for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileRefusal {
    #[error("{0}")]
    Type(TypeRefusal),
    #[error("file name: {0}")]
    Name(NameRefusal),
    #[error("file is over the limit of {} for one document", megabytes(*.0))]
    TooLarge(u64),
    #[error("file would take this item's documents over their limit of {}", megabytes(*.0))]
    ParentFull(u64),
    #[error("file would be one too many: an item holds at most {0} documents")]
    TooMany(i64),
    #[error("the document is still being checked for malware; try again in a minute")]
    ScanPending,
    #[error("the malware scanner refused this document; it cannot be downloaded")]
    Infected,
}

impl DomainError for FileRefusal {
    fn code(&self) -> ErrorCode {
        match self {
            FileRefusal::ScanPending | FileRefusal::Infected => ErrorCode::FailedPrecondition,
            _ => ErrorCode::BadUserInput,
        }
    }

    fn reason(&self) -> Option<Reason> {
        match self {
            FileRefusal::Type(TypeRefusal::Empty) => Some(Reason::EmptyFile),
            FileRefusal::Type(TypeRefusal::OtherCompoundFile) => Some(Reason::OldOfficeFormat),
            FileRefusal::Type(_) => Some(Reason::UnsupportedFileType),
            FileRefusal::Name(_) => Some(Reason::BadFileName),
            FileRefusal::TooLarge(_) => Some(Reason::FileTooLarge),
            FileRefusal::ParentFull(_) => Some(Reason::ParentFull),
            FileRefusal::TooMany(_) => Some(Reason::TooManyDocuments),
            FileRefusal::ScanPending => Some(Reason::ScanPending),
            FileRefusal::Infected => Some(Reason::Infected),
        }
    }
}

pub type DocumentsError = axv_platform::error::ServiceError<FileRefusal>;
