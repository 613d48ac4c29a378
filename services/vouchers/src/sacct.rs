//! Parser for `sacct --parsable2` output submitted by the data center.
//!
//! The account of each Slurm job is the voucher code it is charged to. Only finished jobs that
//! held GPUs are chargeable; steps are part of their job and are never counted on top of it.

use std::collections::HashSet;

use crate::domain::LineRefusal;

/// One chargeable job (or array element) from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SacctJob {
    /// 1-based line number in the submitted text.
    pub line: usize,
    /// JobID as printed: "123" or array element "123_4"; the dedup key.
    pub job_id: String,
    pub job_id_raw: String,
    /// The voucher code.
    pub account: String,
    pub user: String,
    /// gres/gpu count from AllocTRES.
    pub gpus: i64,
    /// ElapsedRaw.
    pub elapsed_secs: i64,
    /// `gpus * elapsed_secs`.
    pub gpu_seconds: i64,
    /// Start column as given.
    pub start: String,
    /// End column as given.
    pub end: String,
    /// First word of State ("CANCELLED by 123" -> "CANCELLED").
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    pub line: usize,
    pub kind: LineRefusal,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedSacct {
    /// In file order; a JobID seen twice appears only once (first wins).
    pub jobs: Vec<SacctJob>,
    /// Later lines repeating a JobID already in this file.
    pub in_file_duplicates: usize,
    /// Steps, running/pending jobs, jobs without GPUs.
    pub skipped: usize,
    pub rejected: Vec<RejectedLine>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SacctError {
    #[error("the sacct text is empty")]
    Empty,
    #[error("line {0} is longer than 1 MiB; is this sacct --parsable2 output?")]
    LineTooLong(usize),
    #[error(
        "the header line lacks {0}; run sacct --parsable2 with at least \
         JobID,JobIDRaw,Account,User,AllocTRES,ElapsedRaw,Start,End,State"
    )]
    MissingColumns(String),
}

const REQUIRED: [&str; 9] = [
    "JobID",
    "JobIDRaw",
    "Account",
    "User",
    "AllocTRES",
    "ElapsedRaw",
    "Start",
    "End",
    "State",
];

/// Not finished yet (or waiting to run again), so there is nothing final to charge.
const NOT_FINISHED: [&str; 6] = [
    "RUNNING",
    "PENDING",
    "REQUEUED",
    "RESIZING",
    "SUSPENDED",
    "REVOKED",
];

/// Terminal states: the GPUs were held for ElapsedRaw seconds whatever the outcome.
const FINISHED: [&str; 9] = [
    "COMPLETED",
    "FAILED",
    "TIMEOUT",
    "CANCELLED",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
];

/// Longer than any real sacct line; past it the input is not sacct output.
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Positions of the required columns in the header.
struct Columns {
    job_id: usize,
    job_id_raw: usize,
    account: usize,
    user: usize,
    alloc_tres: usize,
    elapsed_raw: usize,
    start: usize,
    end: usize,
    state: usize,
    count: usize,
    /// `--parsable` (not 2) ends every line with `|`.
    trailing_pipe: bool,
}

impl Columns {
    fn from_header(header: &str) -> Result<Self, SacctError> {
        let mut names: Vec<&str> = header.split('|').map(str::trim).collect();
        let trailing_pipe = names.len() > 1 && names.last().is_some_and(|n| n.is_empty());
        if trailing_pipe {
            names.pop();
        }
        let mut found = [0usize; REQUIRED.len()];
        let mut missing = Vec::new();
        for (slot, required) in found.iter_mut().zip(REQUIRED) {
            // First occurrence wins should a column be requested twice.
            match names.iter().position(|n| *n == required) {
                Some(i) => *slot = i,
                None => missing.push(required),
            }
        }
        if !missing.is_empty() {
            return Err(SacctError::MissingColumns(missing.join(", ")));
        }
        let [
            job_id,
            job_id_raw,
            account,
            user,
            alloc_tres,
            elapsed_raw,
            start,
            end,
            state,
        ] = found;
        Ok(Self {
            job_id,
            job_id_raw,
            account,
            user,
            alloc_tres,
            elapsed_raw,
            start,
            end,
            state,
            count: names.len(),
            trailing_pipe,
        })
    }

    fn split<'a>(&self, line: &'a str) -> Vec<&'a str> {
        let mut fields: Vec<&str> = line.split('|').collect();
        // In --parsable mode the trailing empty field is always the format's; in --parsable2
        // mode only when it is one too many, so a genuinely empty last column still counts.
        let tolerate = self.trailing_pipe || fields.len() == self.count + 1;
        if tolerate && fields.len() > 1 && fields.last().is_some_and(|f| f.is_empty()) {
            fields.pop();
        }
        fields
    }
}

enum Outcome {
    Job(SacctJob),
    Skip,
    Reject(String),
}

/// Parses `sacct --parsable2` (or `--parsable`) text. Only a missing header or missing columns
/// fail the whole text; bad data lines are reported in [`ParsedSacct::rejected`].
pub fn parse(text: &str) -> Result<ParsedSacct, SacctError> {
    let mut reader = SacctReader::default();
    for line in text.split('\n') {
        reader.push_line(line)?;
    }
    reader.finish()
}

/// Reads `sacct` output a line at a time, so a file of tens of megabytes arriving in pieces is
/// never held whole: only the jobs it names are kept.
#[derive(Default)]
pub struct SacctReader {
    /// The start of a line whose end has not arrived yet.
    carry: Vec<u8>,
    columns: Option<Columns>,
    /// Physical lines read so far (blank ones included), for the line numbers reported.
    line: usize,
    seen: HashSet<String>,
    out: ParsedSacct,
}

impl SacctReader {
    /// One physical line, without its `\n` (a `\r` before it is dropped here).
    pub fn push_line(&mut self, text: &str) -> Result<(), SacctError> {
        self.line += 1;
        let mut text = text.strip_suffix('\r').unwrap_or(text);
        if self.line == 1 {
            // Files saved by Windows editors may start with a byte-order mark.
            text = text.strip_prefix('\u{feff}').unwrap_or(text);
        }
        if text.trim().is_empty() {
            return Ok(());
        }
        let Some(cols) = &self.columns else {
            self.columns = Some(Columns::from_header(text)?);
            return Ok(());
        };
        match classify(cols, self.line, text) {
            Outcome::Job(job) => {
                if self.seen.contains(&job.job_id) {
                    self.out.in_file_duplicates += 1;
                } else {
                    self.seen.insert(job.job_id.clone());
                    self.out.jobs.push(job);
                }
            }
            Outcome::Skip => self.out.skipped += 1,
            Outcome::Reject(reason) => self.out.rejected.push(RejectedLine {
                line: self.line,
                kind: LineRefusal::Malformed,
                reason,
            }),
        }
        Ok(())
    }

    /// The next piece of the text as it arrives; a line may span pieces. Bytes that are not
    /// UTF-8 become U+FFFD, so such a line is refused with its number rather than the file.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), SacctError> {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            let (line, after) = rest.split_at(end);
            if self.carry.is_empty() {
                self.push_line(&String::from_utf8_lossy(line))?;
            } else {
                self.carry.extend_from_slice(line);
                let whole = std::mem::take(&mut self.carry);
                self.push_line(&String::from_utf8_lossy(&whole))?;
            }
            rest = &after[1..];
        }
        self.carry.extend_from_slice(rest);
        if self.carry.len() > MAX_LINE_BYTES {
            return Err(SacctError::LineTooLong(self.line + 1));
        }
        Ok(())
    }

    /// What the lines held; `Empty` when no header came.
    pub fn finish(mut self) -> Result<ParsedSacct, SacctError> {
        if !self.carry.is_empty() {
            let last = std::mem::take(&mut self.carry);
            self.push_line(&String::from_utf8_lossy(&last))?;
        }
        match self.columns {
            Some(_) => Ok(self.out),
            None => Err(SacctError::Empty),
        }
    }
}

fn classify(cols: &Columns, line: usize, text: &str) -> Outcome {
    let fields = cols.split(text);
    if fields.len() != cols.count {
        return Outcome::Reject(format!(
            "expected {} fields, found {}",
            cols.count,
            fields.len()
        ));
    }
    let job_id = fields[cols.job_id].trim();
    if job_id.is_empty() {
        return Outcome::Reject("missing JobID".into());
    }
    // Steps (123.batch, 123.0, 123_4.extern, 123+0.batch) are already inside their job's total.
    if job_id.contains('.') {
        return Outcome::Skip;
    }
    // 123_[5-10%2]: array elements that have not started yet.
    if job_id.contains('[') {
        return Outcome::Skip;
    }

    let Some(state) = fields[cols.state].split_whitespace().next() else {
        return Outcome::Reject("missing State".into());
    };
    if NOT_FINISHED.contains(&state) {
        return Outcome::Skip;
    }
    if !FINISHED.contains(&state) {
        return Outcome::Reject(format!("unknown State {state:?}"));
    }

    let Some(gpus) = gpu_count(fields[cols.alloc_tres]) else {
        return Outcome::Reject("malformed AllocTRES".into());
    };
    // CPU-only jobs cannot be charged to a GPU voucher.
    if gpus == 0 {
        return Outcome::Skip;
    }
    let account = fields[cols.account].trim();
    if account.is_empty() {
        return Outcome::Reject("missing Account".into());
    }
    let Some(elapsed_secs) = parse_count(fields[cols.elapsed_raw].trim()) else {
        return Outcome::Reject("malformed ElapsedRaw".into());
    };
    let Some(gpu_seconds) = gpus.checked_mul(elapsed_secs) else {
        return Outcome::Reject("gres/gpu times ElapsedRaw overflows".into());
    };

    Outcome::Job(SacctJob {
        line,
        job_id: job_id.to_owned(),
        job_id_raw: fields[cols.job_id_raw].trim().to_owned(),
        account: account.to_owned(),
        user: fields[cols.user].trim().to_owned(),
        gpus,
        elapsed_secs,
        gpu_seconds,
        start: fields[cols.start].to_owned(),
        end: fields[cols.end].to_owned(),
        state: state.to_owned(),
    })
}

/// GPU count from AllocTRES: the generic `gres/gpu=N` when present (it already totals the typed
/// ones), otherwise the sum of typed `gres/gpu:<type>=N`, otherwise 0. `None` when malformed.
fn gpu_count(tres: &str) -> Option<i64> {
    let mut generic = None;
    let mut typed: Option<i64> = None;
    for item in tres.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = item.split_once('=')?;
        // Exact key match: gres/gpumem and gres/gpuutil are not GPU counts.
        if key == "gres/gpu" {
            generic = Some(parse_count(value)?);
        } else if key.starts_with("gres/gpu:") {
            typed = Some(typed.unwrap_or(0).checked_add(parse_count(value)?)?);
        }
    }
    Some(generic.or(typed).unwrap_or(0))
}

/// A non-negative decimal integer; `str::parse` alone would also accept "+5" and "-5".
fn parse_count(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const HEADER: &str = "JobID|JobIDRaw|Account|User|AllocTRES|ElapsedRaw|Start|End|State";
    const T0: &str = "2026-03-02T09:00:00";
    const T1: &str = "2026-03-02T10:00:00";

    /// A --parsable2 line in HEADER's column order.
    fn line(id: &str, account: &str, tres: &str, elapsed: &str, state: &str) -> String {
        let raw = id.split('_').next().unwrap();
        format!("{id}|{raw}|{account}|kimjh|{tres}|{elapsed}|{T0}|{T1}|{state}")
    }

    fn gpu(n: i64) -> String {
        format!("billing=16,cpu=16,gres/gpu={n},gres/gpu:h100={n},mem=128G,node=1")
    }

    fn parse_lines(lines: &[String]) -> ParsedSacct {
        let text = std::iter::once(HEADER.to_owned())
            .chain(lines.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n");
        parse(&text).unwrap()
    }

    fn reasons(parsed: &ParsedSacct) -> Vec<(usize, &str)> {
        parsed
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect()
    }

    #[test]
    fn parses_a_completed_job() {
        let parsed = parse_lines(&[line(
            "4711",
            " gpu-2026-K3m9qa ",
            &gpu(2),
            "3600",
            "COMPLETED",
        )]);
        assert_eq!(
            parsed.jobs,
            vec![SacctJob {
                line: 2,
                job_id: "4711".into(),
                job_id_raw: "4711".into(),
                account: "gpu-2026-K3m9qa".into(),
                user: "kimjh".into(),
                gpus: 2,
                elapsed_secs: 3600,
                gpu_seconds: 7200,
                start: T0.into(),
                end: T1.into(),
                state: "COMPLETED".into(),
            }]
        );
        assert_eq!((parsed.in_file_duplicates, parsed.skipped), (0, 0));
        assert!(parsed.rejected.is_empty());
    }

    #[test]
    fn empty_text_is_an_error() {
        assert_eq!(parse(""), Err(SacctError::Empty));
        assert_eq!(parse("\n  \r\n\n"), Err(SacctError::Empty));
    }

    #[test]
    fn header_only_gives_nothing() {
        assert_eq!(parse(HEADER).unwrap(), ParsedSacct::default());
    }

    #[test]
    fn missing_columns_are_named() {
        let err = parse("JobID|Account|User|Start|End|State|ElapsedRaw\n1|a|u|x|y|COMPLETED|5")
            .unwrap_err();
        assert_eq!(
            err,
            SacctError::MissingColumns("JobIDRaw, AllocTRES".into())
        );
        assert!(
            err.to_string()
                .starts_with("the header line lacks JobIDRaw, AllocTRES; run sacct")
        );
    }

    #[test]
    fn column_names_are_case_sensitive() {
        let err = parse(&HEADER.replace("Account", "account")).unwrap_err();
        assert_eq!(err, SacctError::MissingColumns("Account".into()));
    }

    #[test]
    fn columns_in_any_order_with_extras() {
        let text = "\
State|JobName|ElapsedRaw|Account|NNodes|AllocTRES|User|End|Partition|Start|JobIDRaw|JobID
COMPLETED|train|100|v1|1|gres/gpu=4|leesy|E|h100|S|900|900_3
";
        let parsed = parse(text).unwrap();
        let job = &parsed.jobs[0];
        assert_eq!(
            (
                job.job_id.as_str(),
                job.job_id_raw.as_str(),
                job.account.as_str()
            ),
            ("900_3", "900", "v1")
        );
        assert_eq!(
            (job.gpus, job.gpu_seconds, job.user.as_str()),
            (4, 400, "leesy")
        );
        assert_eq!((job.start.as_str(), job.end.as_str()), ("S", "E"));
    }

    #[test]
    fn parsable_trailing_pipe_and_crlf_are_tolerated() {
        let text = format!(
            "\u{feff}{HEADER}|\r\n{}|\r\n\r\n{}|\r\n",
            line("1", "v1", &gpu(1), "10", "COMPLETED"),
            line("2", "v1", &gpu(1), "20", "FAILED"),
        );
        let parsed = parse(&text).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        assert_eq!(parsed.jobs.len(), 2);
        assert_eq!(parsed.jobs[1].line, 4);
        assert_eq!(parsed.jobs[1].state, "FAILED");
        assert_eq!(parsed.jobs[1].end, T1);
    }

    #[test]
    fn parsable_mode_still_rejects_a_short_line() {
        // With --parsable a line missing its last field ends in "|" too; it must not pass as full.
        let short = "1|1|v1|kimjh|gres/gpu=1|10|S|E|";
        let parsed = parse(&format!("{HEADER}|\n{short}")).unwrap();
        assert_eq!(reasons(&parsed), vec![(2, "expected 9 fields, found 8")]);
    }

    #[test]
    fn parsable2_keeps_an_empty_last_column() {
        let text = "JobID|JobIDRaw|Account|User|AllocTRES|ElapsedRaw|Start|End|State|Comment\n\
                    1|1|v1|u|gres/gpu=1|10|S|E|COMPLETED|\n\
                    2|2|v1|u|gres/gpu=1|10|S|E|COMPLETED||\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.jobs.len(), 2);
        assert!(parsed.rejected.is_empty());
    }

    #[test]
    fn wrong_field_count_is_rejected() {
        let parsed = parse_lines(&[
            "1|1|v1|kimjh|gres/gpu=1|10|S|E".into(),
            "2|2|v1|kimjh|gres/gpu=1|10|S|E|COMPLETED|x|y".into(),
        ]);
        assert_eq!(
            reasons(&parsed),
            vec![
                (2, "expected 9 fields, found 8"),
                (3, "expected 9 fields, found 11")
            ]
        );
    }

    #[test]
    fn blank_lines_keep_physical_line_numbers() {
        let text = format!(
            "\n\n{HEADER}\n\n{}\n   \n{}\n",
            line("1", "v1", &gpu(1), "10", "COMPLETED"),
            line("2", "v1", &gpu(1), "x", "COMPLETED"),
        );
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.jobs[0].line, 5);
        assert_eq!(reasons(&parsed), vec![(7, "malformed ElapsedRaw")]);
    }

    #[test]
    fn steps_are_skipped() {
        let ids = [
            "10.batch",
            "10.extern",
            "10.0",
            "11_4.batch",
            "12+0.batch",
            "12+1.0",
        ];
        let lines: Vec<String> = ids
            .iter()
            .map(|id| line(id, "v1", &gpu(1), "10", "COMPLETED"))
            .collect();
        let parsed = parse_lines(&lines);
        assert_eq!(parsed.skipped, ids.len());
        assert!(parsed.jobs.is_empty() && parsed.rejected.is_empty());
    }

    #[test]
    fn het_components_and_array_elements_count_on_their_own() {
        let parsed = parse_lines(&[
            line("12+0", "v1", &gpu(1), "10", "COMPLETED"),
            line("12+1", "v1", &gpu(2), "10", "COMPLETED"),
            line("13_0", "v1", &gpu(1), "10", "COMPLETED"),
            line("13_1", "v1", &gpu(1), "10", "COMPLETED"),
        ]);
        let ids: Vec<&str> = parsed.jobs.iter().map(|j| j.job_id.as_str()).collect();
        assert_eq!(ids, ["12+0", "12+1", "13_0", "13_1"]);
        assert_eq!(parsed.in_file_duplicates, 0);
    }

    #[test]
    fn pending_array_placeholders_are_skipped() {
        let parsed = parse_lines(&[
            line("13_[5-10]", "v1", "", "0", "PENDING"),
            // Even if sacct printed it with a finished state, a placeholder never ran.
            line("13_[5-10%2]", "v1", &gpu(1), "0", "CANCELLED by 0"),
        ]);
        assert_eq!((parsed.skipped, parsed.jobs.len()), (2, 0));
    }

    #[test]
    fn unfinished_states_are_skipped() {
        let states = [
            "RUNNING",
            "PENDING",
            "REQUEUED",
            "RESIZING",
            "SUSPENDED",
            "REVOKED",
        ];
        let lines: Vec<String> = states
            .iter()
            .enumerate()
            .map(|(i, s)| line(&i.to_string(), "v1", &gpu(1), "10", s))
            .collect();
        let parsed = parse_lines(&lines);
        assert_eq!(parsed.skipped, states.len());
        assert!(parsed.jobs.is_empty() && parsed.rejected.is_empty());
    }

    #[test]
    fn finished_states_are_charged() {
        let states = [
            "COMPLETED",
            "FAILED",
            "TIMEOUT",
            "CANCELLED",
            "CANCELLED by 1234",
            "OUT_OF_MEMORY",
            "NODE_FAIL",
            "PREEMPTED",
            "BOOT_FAIL",
            "DEADLINE",
        ];
        let lines: Vec<String> = states
            .iter()
            .enumerate()
            .map(|(i, s)| line(&i.to_string(), "v1", &gpu(1), "10", s))
            .collect();
        let parsed = parse_lines(&lines);
        assert!(parsed.rejected.is_empty());
        let got: Vec<&str> = parsed.jobs.iter().map(|j| j.state.as_str()).collect();
        let want: Vec<&str> = states
            .iter()
            .map(|s| s.split(' ').next().unwrap())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unknown_or_missing_state_is_rejected() {
        let parsed = parse_lines(&[
            line("1", "v1", &gpu(1), "10", "EXPLODED"),
            line("2", "v1", &gpu(1), "10", "completed"),
            line("3", "v1", &gpu(1), "10", ""),
        ]);
        assert_eq!(
            reasons(&parsed),
            vec![
                (2, "unknown State \"EXPLODED\""),
                (3, "unknown State \"completed\""),
                (4, "missing State"),
            ]
        );
    }

    #[test]
    fn gpu_count_prefers_generic_then_sums_typed() {
        let parsed = parse_lines(&[
            line(
                "1",
                "v1",
                "cpu=8,gres/gpu=3,gres/gpu:h100=2,gres/gpu:a100=1",
                "10",
                "COMPLETED",
            ),
            line(
                "2",
                "v1",
                "cpu=8,gres/gpu:h100=2,gres/gpu:a100=1,mem=1G",
                "10",
                "COMPLETED",
            ),
            line("3", "v1", "gres/gpu:h100=2,gres/gpu=2", "10", "COMPLETED"),
            line(
                "4",
                "v1",
                "gres/gpumem=80G,gres/gpuutil=90,gres/gpu:h100=1",
                "10",
                "COMPLETED",
            ),
        ]);
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        let gpus: Vec<i64> = parsed.jobs.iter().map(|j| j.gpus).collect();
        assert_eq!(gpus, [3, 3, 2, 1]);
        assert_eq!(parsed.jobs[0].gpu_seconds, 30);
    }

    #[test]
    fn jobs_without_gpus_are_skipped() {
        let parsed = parse_lines(&[
            line(
                "1",
                "v1",
                "billing=4,cpu=4,mem=16G,node=1",
                "10",
                "COMPLETED",
            ),
            line("2", "v1", "", "0", "CANCELLED by 1001"),
            line("3", "v1", "cpu=4,gres/gpu=0", "10", "COMPLETED"),
            // Nothing to charge, so no reason to complain about the account either.
            line("4", "", "cpu=4", "10", "COMPLETED"),
        ]);
        assert_eq!(parsed.skipped, 4);
        assert!(parsed.jobs.is_empty() && parsed.rejected.is_empty());
    }

    #[test]
    fn malformed_alloc_tres_is_rejected() {
        let parsed = parse_lines(&[
            line("1", "v1", "cpu=8,gres/gpu=two", "10", "COMPLETED"),
            line("2", "v1", "cpu=8,gres/gpu:h100=1.5", "10", "COMPLETED"),
            line("3", "v1", "cpu=8,gres/gpu=-1", "10", "COMPLETED"),
            line("4", "v1", "cpu=8,gres/gpu", "10", "COMPLETED"),
            line(
                "5",
                "v1",
                "gres/gpu:h100=9223372036854775807,gres/gpu:a100=1",
                "1",
                "COMPLETED",
            ),
        ]);
        let want: Vec<(usize, &str)> = (2..=6).map(|l| (l, "malformed AllocTRES")).collect();
        assert_eq!(reasons(&parsed), want);
    }

    #[test]
    fn malformed_elapsed_raw_is_rejected() {
        let bad = ["", "-5", "+5", "1.5", "12a4", "99999999999999999999"];
        let lines: Vec<String> = bad
            .iter()
            .enumerate()
            .map(|(i, e)| line(&i.to_string(), "v1", &gpu(1), e, "COMPLETED"))
            .collect();
        let parsed = parse_lines(&lines);
        assert_eq!(parsed.rejected.len(), bad.len());
        assert!(
            parsed
                .rejected
                .iter()
                .all(|r| r.reason == "malformed ElapsedRaw")
        );
        let zero = parse_lines(&[line("1", "v1", &gpu(4), "0", "BOOT_FAIL")]);
        assert_eq!(zero.jobs[0].gpu_seconds, 0);
    }

    #[test]
    fn gpu_seconds_overflow_is_rejected() {
        let parsed = parse_lines(&[line("1", "v1", &gpu(8), &i64::MAX.to_string(), "COMPLETED")]);
        assert_eq!(
            reasons(&parsed),
            vec![(2, "gres/gpu times ElapsedRaw overflows")]
        );
    }

    #[test]
    fn missing_account_and_job_id_are_rejected() {
        let parsed = parse_lines(&[
            line("1", "  ", &gpu(1), "10", "COMPLETED"),
            line("", "v1", &gpu(1), "10", "COMPLETED"),
        ]);
        assert_eq!(
            reasons(&parsed),
            vec![(2, "missing Account"), (3, "missing JobID")]
        );
    }

    #[test]
    fn in_file_duplicates_keep_the_first() {
        let parsed = parse_lines(&[
            line("7", "v1", &gpu(1), "10", "COMPLETED"),
            line("8", "v1", &gpu(1), "10", "COMPLETED"),
            line("7", "v2", &gpu(2), "99", "COMPLETED"),
            line("7", "v1", &gpu(1), "10", "COMPLETED"),
        ]);
        assert_eq!(parsed.in_file_duplicates, 2);
        assert_eq!(parsed.jobs.len(), 2);
        assert_eq!(
            (parsed.jobs[0].line, parsed.jobs[0].account.as_str()),
            (2, "v1")
        );
    }

    #[test]
    fn requeued_record_does_not_shadow_the_final_one() {
        // sacct --duplicates prints the requeued attempt and the final one under one JobID.
        let parsed = parse_lines(&[
            line("7", "v1", &gpu(1), "10", "REQUEUED"),
            line("7", "v1", &gpu(1), "50", "COMPLETED"),
        ]);
        assert_eq!((parsed.skipped, parsed.in_file_duplicates), (1, 0));
        assert_eq!(parsed.jobs[0].elapsed_secs, 50);
    }

    #[test]
    fn account_keeps_case() {
        let parsed = parse_lines(&[line("1", "GPU-2026-AbC", &gpu(1), "10", "COMPLETED")]);
        assert_eq!(parsed.jobs[0].account, "GPU-2026-AbC");
    }

    /// Placeholder in the fixture, key suffix in the .expected file, and the code substituted.
    const FIXTURE_ACCOUNTS: [(&str, &str, &str); 5] = [
        ("{{V1}}", "V1", "v1"),
        ("{{V2}}", "V2", "v2"),
        ("{{V3}}", "V3", "v3"),
        ("{{EXPIRED}}", "EXPIRED", "expired-1"),
        ("unknown-acct", "unknown-acct", "unknown-acct"),
    ];

    #[test]
    fn fixture_matches_expected_numbers() {
        let mut text = include_str!("../tests/fixtures/sacct_h100_week.txt").to_owned();
        for (placeholder, _, code) in FIXTURE_ACCOUNTS {
            text = text.replace(placeholder, code);
        }
        let expected: std::collections::HashMap<&str, &str> =
            include_str!("../tests/fixtures/sacct_h100_week.expected")
                .lines()
                .filter_map(|l| l.split_once('='))
                .collect();
        let number = |key: &str| -> i64 { expected[key].parse().unwrap() };

        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.jobs.len() as i64, number("jobs"));
        assert_eq!(
            parsed.in_file_duplicates as i64,
            number("in_file_duplicates")
        );
        assert_eq!(parsed.skipped as i64, number("skipped"));
        assert_eq!(parsed.rejected.len() as i64, number("rejected"));
        let lines: Vec<String> = parsed.rejected.iter().map(|r| r.line.to_string()).collect();
        assert_eq!(lines.join(","), expected["rejected_lines"]);
        for (_, key, code) in FIXTURE_ACCOUNTS {
            let jobs: Vec<&SacctJob> = parsed.jobs.iter().filter(|j| j.account == code).collect();
            let total: i64 = jobs.iter().map(|j| j.gpu_seconds).sum();
            assert_eq!(total, number(&format!("gpu_seconds_{key}")), "{key}");
            assert_eq!(jobs.len() as i64, number(&format!("jobs_{key}")), "{key}");
        }
        // Every non-blank data line lands in exactly one bucket.
        let data_lines = text.lines().filter(|l| !l.trim().is_empty()).count() - 1;
        let buckets =
            parsed.jobs.len() + parsed.in_file_duplicates + parsed.skipped + parsed.rejected.len();
        assert_eq!(buckets, data_lines);

        let reasons: Vec<&str> = parsed.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "malformed ElapsedRaw",
                "expected 12 fields, found 13",
                "malformed ElapsedRaw",
                "expected 12 fields, found 9",
            ]
        );
        let ids: Vec<&str> = parsed.jobs.iter().map(|j| j.job_id.as_str()).collect();
        for id in ["4812_0", "4812_7", "4900+0", "4900+1", "4955_2", "4790"] {
            assert!(ids.contains(&id), "{id}");
        }
        for id in ["4812_[8-15%4]", "4955_3", "4835", "4768"] {
            assert!(!ids.contains(&id), "{id}");
        }
        assert!(parsed.jobs.iter().any(|j| j.state == "CANCELLED"));
        assert!(parsed.jobs.iter().any(|j| j.state == "TIMEOUT"));
        assert_eq!(parsed.jobs.iter().map(|j| j.gpus).max(), Some(8));
    }

    #[test]
    fn pieces_split_anywhere_read_as_the_whole_text() {
        let text = include_str!("../tests/fixtures/sacct_h100_week.txt");
        let whole = parse(text).unwrap();
        for piece in [1, 7, 64, 4096] {
            let mut reader = SacctReader::default();
            for chunk in text.as_bytes().chunks(piece) {
                reader.push_bytes(chunk).unwrap();
            }
            assert_eq!(reader.finish().unwrap(), whole, "pieces of {piece}");
        }
        // Korean split inside a character still arrives whole.
        let mut reader = SacctReader::default();
        let korean = "JobID|JobIDRaw|Account|User|AllocTRES|ElapsedRaw|Start|End|State\n\
                      1|1|gpu-2026-aaaaaa|김|gres/gpu=1|60|2026-01-01T00:00:00|2026-01-01T00:01:00|COMPLETED\n";
        for chunk in korean.as_bytes().chunks(3) {
            reader.push_bytes(chunk).unwrap();
        }
        assert_eq!(reader.finish().unwrap().jobs[0].user, "김");
    }

    #[test]
    fn a_line_without_end_is_refused() {
        let mut reader = SacctReader::default();
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        assert_eq!(reader.push_bytes(&long), Err(SacctError::LineTooLong(1)));
    }
}
