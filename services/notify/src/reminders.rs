//! Reminders: what nobody's action announces but people must hear of in time. A firm hears of
//! an outcome report coming due (its period ends within 14 days), of reports overdue (14 days
//! after a period ended without one, then weekly until filed: one message per pilot, naming its
//! oldest missing period), and of a voucher about to expire (30, 14 and 7 days before). Each reminder is an event with an id of its own making
//! (`reminder:<what>:<which>:<step>`), handled like any other: the table of events acted on
//! makes each go out once, whatever the replicas and however often the scheduler looks.

use chrono::NaiveDate;

use axv_platform::events::Event;

/// A report a pilot owes, as outcomes lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedReport {
    pub pilot_id: String,
    pub company_id: String,
    pub pilot_title: String,
    pub period_end: NaiveDate,
}

/// A voucher still usable, as vouchers lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveVoucher {
    pub voucher_id: String,
    pub company_id: String,
    pub code: String,
    pub valid_until: NaiveDate,
}

/// Days before a period ends that its report is announced as coming due.
pub const REPORT_DUE_DAYS: i64 = 14;
/// Days after a period ends that a report not filed is called overdue (it can be filed from
/// the day after the period; a firm gathers its figures first).
pub const REPORT_GRACE_DAYS: i64 = 14;
/// Days before a voucher expires that its holder is told, each once.
pub const VOUCHER_EXPIRY_STEPS: [i64; 3] = [30, 14, 7];

fn reminder(
    kind: &str,
    subject: &str,
    step: &str,
    company_id: &str,
    payload: serde_json::Value,
) -> Event {
    Event {
        id: format!("reminder:{kind}:{subject}:{step}"),
        ..Event::new(crate::NAME, kind, subject)
            .for_companies(vec![company_id.to_owned()])
            .with_payload(payload)
    }
}

/// The reminders due on `today` (Korea's date): pure, so every rule is unit-tested.
pub fn due(today: NaiveDate, reports: &[OwedReport], vouchers: &[LiveVoucher]) -> Vec<Event> {
    let mut events = Vec::new();
    // Per pilot: the periods it owes, oldest first.
    let mut by_pilot: Vec<(&str, Vec<&OwedReport>)> = Vec::new();
    for report in reports {
        match by_pilot
            .iter_mut()
            .find(|(pilot, _)| *pilot == report.pilot_id)
        {
            Some((_, owed)) => owed.push(report),
            None => by_pilot.push((&report.pilot_id, vec![report])),
        }
    }
    for (pilot_id, mut owed) in by_pilot {
        owed.sort_by_key(|r| r.period_end);
        let late: Vec<&&OwedReport> = owed
            .iter()
            .filter(|r| (today - r.period_end).num_days() > REPORT_GRACE_DAYS)
            .collect();
        if let Some(oldest) = late.first() {
            // Weekly from the day the oldest became overdue; one message for all it owes.
            let overdue_for = (today - oldest.period_end).num_days() - REPORT_GRACE_DAYS - 1;
            let week = overdue_for / 7;
            events.push(reminder(
                "report.overdue",
                pilot_id,
                &format!("{}:{week}", oldest.period_end),
                &oldest.company_id,
                serde_json::json!({
                    "title": oldest.pilot_title,
                    "date": oldest.period_end.to_string(),
                    "count": late.len(),
                    "pilotId": pilot_id,
                }),
            ));
        }
        for report in owed {
            let left = (report.period_end - today).num_days();
            if (0..=REPORT_DUE_DAYS).contains(&left) {
                events.push(reminder(
                    "report.due_soon",
                    pilot_id,
                    &report.period_end.to_string(),
                    &report.company_id,
                    serde_json::json!({
                        "title": report.pilot_title,
                        "date": report.period_end.to_string(),
                        "pilotId": pilot_id,
                    }),
                ));
            }
        }
    }
    for voucher in vouchers {
        let left = (voucher.valid_until - today).num_days();
        // The nearest step reached: a voucher granted with 10 days left hears at 14, then 7.
        let Some(step) = VOUCHER_EXPIRY_STEPS
            .iter()
            .rev()
            .find(|step| (0..=**step).contains(&left))
        else {
            continue;
        };
        events.push(reminder(
            "voucher.expiring",
            &voucher.voucher_id,
            &step.to_string(),
            &voucher.company_id,
            serde_json::json!({
                "code": voucher.code,
                "date": voucher.valid_until.to_string(),
            }),
        ));
    }
    events
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn report(end: &str) -> OwedReport {
        OwedReport {
            pilot_id: "p1".into(),
            company_id: "c1".into(),
            pilot_title: "자율주행 셔틀".into(),
            period_end: day(end),
        }
    }

    fn voucher(until: &str) -> LiveVoucher {
        LiveVoucher {
            voucher_id: "v1".into(),
            company_id: "c1".into(),
            code: "gpu-1".into(),
            valid_until: day(until),
        }
    }

    fn ids(events: &[Event]) -> Vec<String> {
        events.iter().map(|e| e.id.clone()).collect()
    }

    #[test]
    fn a_report_is_announced_two_weeks_before_its_period_ends() {
        let today = day("2026-12-07");
        assert!(
            due(today, &[report("2026-12-22")], &[]).is_empty(),
            "15 days: not yet"
        );
        let soon = due(today, &[report("2026-12-21")], &[]);
        assert_eq!(ids(&soon), ["reminder:report.due_soon:p1:2026-12-21"]);
        assert_eq!(soon[0].company_ids, ["c1"]);
        assert_eq!(soon[0].payload["title"], "자율주행 셔틀");
        assert_eq!(soon[0].payload["date"], "2026-12-21");
        // The same reminder every day until the period ends: one id, so told once.
        assert_eq!(
            ids(&due(day("2026-12-20"), &[report("2026-12-21")], &[])),
            ids(&soon)
        );
        assert_eq!(
            ids(&due(day("2026-12-21"), &[report("2026-12-21")], &[])),
            ids(&soon)
        );
    }

    #[test]
    fn an_overdue_report_is_told_after_two_weeks_then_weekly() {
        let end = "2026-11-30";
        let on = |today: &str| ids(&due(day(today), &[report(end)], &[]));
        // It can be filed from 12-01; two weeks later it is overdue.
        assert!(on("2026-12-01").is_empty());
        assert!(on("2026-12-14").is_empty());
        let week = |n: u32| vec![format!("reminder:report.overdue:p1:2026-11-30:{n}")];
        assert_eq!(on("2026-12-15"), week(0));
        assert_eq!(on("2026-12-21"), week(0));
        assert_eq!(on("2026-12-22"), week(1));
        assert_eq!(on("2026-12-29"), week(2));
    }

    #[test]
    fn a_pilot_owing_several_reports_hears_once_a_week_of_the_oldest() {
        let owed = [
            report("2026-06-30"),
            report("2026-03-31"),
            report("2026-09-30"),
        ];
        let told = due(day("2026-12-07"), &owed, &[]);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0]
                .id
                .starts_with("reminder:report.overdue:p1:2026-03-31:")
        );
        assert_eq!(told[0].payload["count"], 3);
        assert_eq!(told[0].payload["date"], "2026-03-31");
        // A current period coming due is told besides.
        let mut with_current = owed.to_vec();
        with_current.push(report("2026-12-21"));
        assert_eq!(due(day("2026-12-07"), &with_current, &[]).len(), 2);
    }

    #[test]
    fn a_voucher_is_told_30_14_and_7_days_before_it_expires() {
        let until = "2026-12-31";
        let on = |today: &str| ids(&due(day(today), &[], &[voucher(until)]));
        assert!(on("2026-11-30").is_empty(), "31 days: not yet");
        assert_eq!(on("2026-12-01"), ["reminder:voucher.expiring:v1:30"]);
        assert_eq!(on("2026-12-16"), ["reminder:voucher.expiring:v1:30"]);
        assert_eq!(on("2026-12-17"), ["reminder:voucher.expiring:v1:14"]);
        assert_eq!(on("2026-12-24"), ["reminder:voucher.expiring:v1:7"]);
        assert_eq!(on("2026-12-31"), ["reminder:voucher.expiring:v1:7"]);
        assert!(on("2027-01-01").is_empty(), "expired: its own event tells");
        let told = due(day("2026-12-24"), &[], &[voucher(until)]);
        assert_eq!(told[0].payload["code"], "gpu-1");
        assert_eq!(told[0].kind, "voucher.expiring");
    }
}
