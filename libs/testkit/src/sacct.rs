//! Synthetic Slurm accounting (`sacct --parsable2`) text for tests and benchmarks: realistic
//! and deterministic, so the ingestion is exercised at scale without a cluster. Not in the
//! release binary.

/// A deterministic, realistic sacct --parsable2 text of about `jobs` jobs charged to `accounts`
/// (round robin), with steps (.batch/.extern/.0 lines after each job), some array elements,
/// some RUNNING/PENDING lines, extra columns, and the columns in a non-default order.
///
/// `jobs` counts job lines (array elements, running and pending ones included), not steps.
/// With no `accounts` every job is charged to `gpu-demo`.
pub fn synthetic(jobs: usize, accounts: &[&str], seed: u64) -> String {
    const USERS: [&str; 8] = [
        "kimjh", "leesy", "parkmk", "choih", "jungdw", "kangsr", "yoonj", "limtk",
    ];
    const NAMES: [&str; 6] = [
        "train_llama",
        "finetune-ko",
        "eval_bench",
        "vllm-serve",
        "sdxl",
        "jupyter",
    ];
    const GPUS: [i64; 8] = [1, 1, 1, 2, 2, 4, 8, 0];

    let mut rng = XorShift::new(seed);
    let mut out = String::with_capacity(jobs.saturating_mul(420));
    out.push_str(
        "JobName|JobID|Account|State|User|Partition|AllocTRES|JobIDRaw|NNodes|Start|End|\
         ElapsedRaw|ExitCode\n",
    );
    let mut next_id = 100_000 + rng.below(1_000);
    // 2026-03-02T00:00:00Z; jobs start every few minutes from there.
    let mut clock: i64 = 1_772_409_600;
    let mut emitted = 0usize;
    let account = |emitted: usize| accounts.get(emitted % accounts.len().max(1));
    while emitted < jobs {
        let base = Row {
            name: NAMES[rng.below(NAMES.len() as u64) as usize],
            id: next_id.to_string(),
            raw: next_id.to_string(),
            account: account(emitted).copied().unwrap_or("gpu-demo"),
            user: USERS[rng.below(USERS.len() as u64) as usize],
            gpus: GPUS[rng.below(GPUS.len() as u64) as usize],
            state: "COMPLETED",
            start: None,
            elapsed: 30 + rng.below(86_400) as i64,
            exit: "0:0",
        };
        clock += rng.below(600) as i64;
        let start = Some(clock + rng.below(300) as i64);
        let id = next_id;
        next_id += 1 + rng.below(3);
        match rng.below(100) {
            0..=3 => Row {
                gpus: 0,
                state: "PENDING",
                ..base
            }
            .push(&mut out),
            4..=6 => {
                let (lo, hi) = (rng.below(4), 4 + rng.below(8));
                let id = format!("{id}_[{lo}-{hi}%2]");
                Row {
                    id,
                    gpus: 0,
                    state: "PENDING",
                    ..base
                }
                .push(&mut out);
            }
            7..=12 => {
                let row = Row {
                    gpus: base.gpus.max(1),
                    state: "RUNNING",
                    start,
                    ..base
                };
                row.push(&mut out);
                row.push_steps(&mut out, false);
            }
            13..=22 => {
                // Each element is a job of its own with its own raw id and account.
                for i in 0..2 + rng.below(4) {
                    if emitted >= jobs {
                        break;
                    }
                    let row = Row {
                        id: format!("{id}_{i}"),
                        raw: next_id.to_string(),
                        account: account(emitted).copied().unwrap_or("gpu-demo"),
                        gpus: base.gpus.max(1),
                        start: start.map(|s| s + 60 * i as i64),
                        elapsed: base.elapsed / (1 + i as i64),
                        ..base.clone()
                    };
                    next_id += 1;
                    row.push(&mut out);
                    row.push_steps(&mut out, false);
                    emitted += 1;
                }
                continue;
            }
            _ => {
                let (state, exit) = match rng.below(40) {
                    0..=29 => ("COMPLETED", "0:0"),
                    30..=32 => ("FAILED", "1:0"),
                    33..=34 => ("TIMEOUT", "0:0"),
                    35..=37 => ("CANCELLED by 1001", "0:15"),
                    38 => ("OUT_OF_MEMORY", "0:125"),
                    _ => ("NODE_FAIL", "0:0"),
                };
                let row = Row {
                    state,
                    exit,
                    start,
                    ..base
                };
                row.push(&mut out);
                row.push_steps(&mut out, rng.below(2) == 0);
            }
        }
        emitted += 1;
    }
    out
}

/// One job line of [`synthetic`] output, plus the steps derived from it.
#[derive(Clone)]
struct Row<'a> {
    name: &'a str,
    id: String,
    raw: String,
    account: &'a str,
    user: &'a str,
    gpus: i64,
    state: &'a str,
    /// `None` while pending.
    start: Option<i64>,
    elapsed: i64,
    exit: &'a str,
}

impl Row<'_> {
    fn push(&self, out: &mut String) {
        self.push_line(out, None);
    }

    fn push_steps(&self, out: &mut String, with_srun: bool) {
        for step in ["batch", "extern"]
            .into_iter()
            .chain(with_srun.then_some("0"))
        {
            self.push_line(out, Some(step));
        }
    }

    fn push_line(&self, out: &mut String, step: Option<&str>) {
        // sacct prints steps with an empty User, the job's Account and a State without "by N".
        let (name, id, raw, user, state) = match step {
            None => (
                self.name,
                self.id.clone(),
                self.raw.clone(),
                self.user,
                self.state,
            ),
            Some(step) => (
                if step == "0" { "python" } else { step },
                format!("{}.{step}", self.id),
                format!("{}.{step}", self.raw),
                "",
                self.state.split(' ').next().unwrap_or(self.state),
            ),
        };
        let (start, end, elapsed) = match self.start {
            None => ("Unknown".to_owned(), "Unknown".to_owned(), 0),
            Some(s) if state == "RUNNING" => (timestamp(s), "Unknown".to_owned(), self.elapsed),
            Some(s) => (timestamp(s), timestamp(s + self.elapsed), self.elapsed),
        };
        let tres = tres(self.gpus, self.start.is_some());
        let partition = if self.gpus == 0 && self.start.is_some() {
            "cpu"
        } else {
            "h100"
        };
        let line = format!(
            "{name}|{id}|{}|{state}|{user}|{partition}|{tres}|{raw}|1|{start}|{end}|{elapsed}|{}\n",
            self.account, self.exit
        );
        out.push_str(&line);
    }
}

/// AllocTRES as Slurm prints it; empty until resources are allocated.
fn tres(gpus: i64, allocated: bool) -> String {
    if !allocated {
        return String::new();
    }
    let cpus = 8 * gpus.max(1);
    if gpus == 0 {
        return format!("billing={cpus},cpu={cpus},mem={}G,node=1", 4 * cpus);
    }
    format!(
        "billing={cpus},cpu={cpus},gres/gpu={gpus},gres/gpu:h100={gpus},mem={}G,node=1",
        16 * cpus
    )
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) as sacct prints times, without pulling in a date crate.
fn timestamp(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Tiny xorshift64 so the synthetic text is reproducible without the rand crate.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // splitmix64 finaliser: nearby seeds give unrelated streams, and xorshift must not
        // start at zero (it would stay there).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use axv_vouchers::sacct::parse;

    use super::*;

    #[test]
    fn synthetic_is_deterministic_and_clean() {
        let accounts = ["v1", "v2", "v3"];
        let text = synthetic(500, &accounts, 42);
        // Plain assert: the texts are too long to print usefully.
        assert!(text == synthetic(500, &accounts, 42));
        assert!(text != synthetic(500, &accounts, 43));
        let parsed = parse(&text).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", &parsed.rejected[..1]);
        assert_eq!(parsed.in_file_duplicates, 0);
        let data_lines = text.lines().count() - 1;
        assert_eq!(parsed.jobs.len() + parsed.skipped, data_lines);
        // Every job line is a job, a pending/running line or a CPU-only job; steps add the rest.
        let job_lines = text
            .lines()
            .skip(1)
            .filter(|l| !l.split('|').nth(1).unwrap().contains('.'));
        assert_eq!(job_lines.count(), 500);
        assert!(parsed.jobs.len() > 300, "{}", parsed.jobs.len());
        assert!(
            parsed
                .jobs
                .iter()
                .all(|j| accounts.contains(&j.account.as_str()))
        );
        assert!(parsed.jobs.iter().any(|j| j.job_id.contains('_')));
        assert!(text.contains("|RUNNING|") && text.contains("|PENDING|"));
        assert!(text.contains(".batch|") && text.contains(".extern|") && text.contains(".0|"));
        assert!(text.starts_with("JobName|JobID|"));
    }

    #[test]
    fn synthetic_without_accounts_uses_a_demo_account() {
        let parsed = parse(&synthetic(20, &[], 1)).unwrap();
        assert!(parsed.jobs.iter().all(|j| j.account == "gpu-demo"));
    }

    #[test]
    fn synthetic_timestamps_are_calendar_dates() {
        assert_eq!(timestamp(1_772_409_600), "2026-03-02T00:00:00");
        assert_eq!(timestamp(1_772_409_600 + 86_399), "2026-03-02T23:59:59");
        assert_eq!(timestamp(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00");
    }
}
