//! Who hears of which event, and what they are told, in Korean or English: pure, so every
//! kind's audience and words are unit-tested.

use axv_platform::events::Event;

/// Who must know of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// The members of these companies (the applicant, a pilot's lead and partners).
    Members(Vec<String>),
    /// The programme's managers, who have something to review.
    Managers,
}

/// The language a message is written in: the person's choice, Korean by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    /// From an account's language (`"en"`, `"ko"` or none).
    pub fn of(language: Option<&str>) -> Self {
        match language {
            Some("en") => Lang::En,
            _ => Lang::Ko,
        }
    }
}

/// What a message names: the company, and the voucher's code or the pilot's title.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub company: String,
    pub item: String,
}

/// One message, as the inbox shows it and the e-mail carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub title: String,
    pub body: String,
    /// A path on the console.
    pub link: String,
}

/// The words of one kind of event: (title, body) in Korean and in English, `{company}` and
/// `{item}` filled in, and where on the console it leads.
struct Words {
    kind: &'static str,
    managers: bool,
    ko: (&'static str, &'static str),
    en: (&'static str, &'static str),
    link: &'static str,
}

/// Every event people hear of. `{id}` in a link is the event's subject.
const WORDS: &[Words] = &[
    Words {
        kind: "company.submitted",
        managers: true,
        ko: (
            "기업 등록 검토 요청: {company}",
            "{company}이(가) 기업 등록을 신청했습니다. 검토 대기함에서 검토해 주세요.",
        ),
        en: (
            "Company to review: {company}",
            "{company} applied for registration. Review it from the worklist.",
        ),
        link: "/review/companies/{id}",
    },
    Words {
        kind: "company.approved",
        managers: false,
        ko: (
            "기업 등록이 승인되었습니다: {company}",
            "{company}의 기업 등록이 승인되었습니다. 이제 바우처와 실증사업을 신청할 수 있습니다.",
        ),
        en: (
            "Company approved: {company}",
            "{company} is approved. It can now apply for vouchers and pilots.",
        ),
        link: "/companies/{id}",
    },
    Words {
        kind: "company.changes_requested",
        managers: false,
        ko: (
            "기업 등록 보완 요청: {company}",
            "사업관리자가 {company}의 기업 등록에 보완을 요청했습니다. 검토 의견을 확인하고 고쳐서 다시 제출해 주세요.",
        ),
        en: (
            "Changes requested: {company}",
            "The programme office asks for changes to {company}'s registration. Read the note, then correct and submit it again.",
        ),
        link: "/companies/{id}",
    },
    Words {
        kind: "company.rejected",
        managers: false,
        ko: (
            "기업 등록이 반려되었습니다: {company}",
            "{company}의 기업 등록이 반려되었습니다. 사업관리자의 검토 의견을 확인해 주세요.",
        ),
        en: (
            "Registration rejected: {company}",
            "{company}'s registration was rejected. Read the programme office's note.",
        ),
        link: "/companies/{id}",
    },
    Words {
        kind: "company.suspended",
        managers: false,
        ko: (
            "기업 자격이 정지되었습니다: {company}",
            "{company}의 참여 자격이 정지되어 바우처를 쓰거나 새로 신청할 수 없습니다. 사유를 확인해 주세요.",
        ),
        en: (
            "Company suspended: {company}",
            "{company} is suspended: its vouchers cannot be used and it cannot apply. Read the reason.",
        ),
        link: "/companies/{id}",
    },
    Words {
        kind: "company.reinstated",
        managers: false,
        ko: (
            "기업 자격이 회복되었습니다: {company}",
            "{company}의 참여 자격이 회복되었습니다.",
        ),
        en: (
            "Company reinstated: {company}",
            "{company} takes part in the programme again.",
        ),
        link: "/companies/{id}",
    },
    Words {
        kind: "application.submitted",
        managers: true,
        ko: (
            "바우처 신청 검토 요청: {company}",
            "{company}이(가) 컴퓨팅 바우처를 신청했습니다. 검토 대기함에서 검토해 주세요.",
        ),
        en: (
            "Voucher application to review: {company}",
            "{company} applied for a compute voucher. Review it from the worklist.",
        ),
        link: "/review/applications/{id}",
    },
    Words {
        kind: "application.approved",
        managers: false,
        ko: (
            "바우처 신청이 승인되었습니다: {company}",
            "{company}의 바우처 신청이 승인되어 바우처가 발급되었습니다. 승인된 시간을 확인해 주세요.",
        ),
        en: (
            "Voucher application approved: {company}",
            "{company}'s voucher application was approved and its voucher issued. Check the hours granted.",
        ),
        link: "/vouchers",
    },
    Words {
        kind: "application.rejected",
        managers: false,
        ko: (
            "바우처 신청이 반려되었습니다: {company}",
            "{company}의 바우처 신청이 반려되었습니다. 사업관리자의 의견을 확인해 주세요.",
        ),
        en: (
            "Voucher application rejected: {company}",
            "{company}'s voucher application was rejected. Read the programme office's note.",
        ),
        link: "/vouchers",
    },
    Words {
        kind: "voucher.low_balance",
        managers: false,
        ko: (
            "바우처 잔액이 얼마 남지 않았습니다: {item}",
            "{company}의 바우처에 남은 시간이 적습니다(바우처 번호 {item}). 작업 계획을 확인해 주세요.",
        ),
        en: (
            "Voucher running low: {item}",
            "{company}'s voucher {item} has little time left. Check the jobs planned.",
        ),
        link: "/vouchers/{id}",
    },
    Words {
        kind: "voucher.exhausted",
        managers: false,
        ko: (
            "바우처를 모두 사용했습니다: {item}",
            "{company}의 바우처를 모두 사용했습니다(바우처 번호 {item}). 이후 작업은 차감되지 않고 초과 사용으로 기록됩니다.",
        ),
        en: (
            "Voucher used up: {item}",
            "{company}'s voucher {item} is used up. Later jobs are recorded as overage, not charged.",
        ),
        link: "/vouchers/{id}",
    },
    Words {
        kind: "voucher.expired",
        managers: false,
        ko: (
            "바우처 기간이 끝났습니다: {item}",
            "{company}의 바우처 사용 기간이 끝났습니다(바우처 번호 {item}).",
        ),
        en: (
            "Voucher expired: {item}",
            "{company}'s voucher {item} has expired.",
        ),
        link: "/vouchers/{id}",
    },
    Words {
        kind: "voucher.revoked",
        managers: false,
        ko: (
            "바우처가 회수되었습니다: {item}",
            "{company}의 바우처가 회수되었습니다(바우처 번호 {item}). 사유는 사업관리자에게 문의해 주세요.",
        ),
        en: (
            "Voucher revoked: {item}",
            "{company}'s voucher {item} was revoked. Ask the programme office why.",
        ),
        link: "/vouchers/{id}",
    },
    Words {
        kind: "pilot.submitted",
        managers: true,
        ko: (
            "실증사업 승인 요청: {item}",
            "{company}이(가) 실증사업 「{item}」의 승인을 요청했습니다. 검토 대기함에서 검토해 주세요.",
        ),
        en: (
            "Pilot to review: {item}",
            "{company} submitted the pilot “{item}”. Review it from the worklist.",
        ),
        link: "/review/pilots/{id}",
    },
    Words {
        kind: "pilot.approved",
        managers: false,
        ko: (
            "실증사업이 승인되었습니다: {item}",
            "실증사업 「{item}」이(가) 승인되었습니다. 준비되면 시작해 주세요.",
        ),
        en: (
            "Pilot approved: {item}",
            "The pilot “{item}” was approved. Start it when you are ready.",
        ),
        link: "/my-pilots/{id}",
    },
    Words {
        kind: "pilot.rejected",
        managers: false,
        ko: (
            "실증사업이 반려되었습니다: {item}",
            "실증사업 「{item}」이(가) 반려되었습니다. 사업관리자의 의견을 확인해 주세요.",
        ),
        en: (
            "Pilot rejected: {item}",
            "The pilot “{item}” was rejected. Read the programme office's note.",
        ),
        link: "/my-pilots/{id}",
    },
    Words {
        kind: "pilot.suspended",
        managers: false,
        ko: (
            "실증사업이 일시 중지되었습니다: {item}",
            "실증사업 「{item}」이(가) 일시 중지되었습니다. 사유를 확인해 주세요.",
        ),
        en: (
            "Pilot paused: {item}",
            "The pilot “{item}” was paused. Read the reason.",
        ),
        link: "/my-pilots/{id}",
    },
    Words {
        kind: "pilot.resumed",
        managers: false,
        ko: (
            "실증사업이 다시 진행됩니다: {item}",
            "실증사업 「{item}」이(가) 다시 진행됩니다.",
        ),
        en: (
            "Pilot resumed: {item}",
            "The pilot “{item}” is under way again.",
        ),
        link: "/my-pilots/{id}",
    },
    Words {
        kind: "pilot.cancelled",
        managers: false,
        ko: (
            "실증사업이 취소되었습니다: {item}",
            "실증사업 「{item}」이(가) 취소되었습니다.",
        ),
        en: (
            "Pilot cancelled: {item}",
            "The pilot “{item}” was cancelled.",
        ),
        link: "/my-pilots/{id}",
    },
    Words {
        kind: "report.submitted",
        managers: true,
        ko: (
            "성과 보고서 확인 요청: {company}",
            "{company}이(가) 성과 보고서를 제출했습니다. 검토 대기함에서 확인해 주세요.",
        ),
        en: (
            "Outcome report to verify: {company}",
            "{company} submitted an outcome report. Verify it from the worklist.",
        ),
        link: "/review/reports/{id}",
    },
    Words {
        kind: "report.returned",
        managers: false,
        ko: (
            "성과 보고서가 반려되었습니다: {company}",
            "{company}의 성과 보고서가 반려되었습니다. 사업관리자의 의견을 확인하고 고쳐서 다시 제출해 주세요.",
        ),
        en: (
            "Outcome report returned: {company}",
            "{company}'s outcome report was returned. Read the note, then correct and submit it again.",
        ),
        link: "/reports/{id}",
    },
    Words {
        kind: "report.verified",
        managers: false,
        ko: (
            "성과 보고서가 확인되었습니다: {company}",
            "{company}의 성과 보고서가 확인되어 사업 성과에 반영됩니다.",
        ),
        en: (
            "Outcome report verified: {company}",
            "{company}'s outcome report was verified and now counts in the programme's figures.",
        ),
        link: "/reports/{id}",
    },
];

fn words(kind: &str) -> Option<&'static Words> {
    WORDS.iter().find(|w| w.kind == kind)
}

/// Who must know of `event`; `None` for events nobody is told of. A pilot's decisions go to
/// its lead company, which acts on them (partners may not have accepted their invitation).
pub fn audience(event: &Event) -> Option<Audience> {
    let words = words(&event.kind)?;
    if words.managers {
        return Some(Audience::Managers);
    }
    if event.kind.starts_with("pilot.") {
        return lead_of(event).map(|lead| Audience::Members(vec![lead]));
    }
    (!event.company_ids.is_empty()).then(|| Audience::Members(event.company_ids.clone()))
}

/// The company the event is about: a pilot's lead, else the first company it names.
pub fn company_of(event: &Event) -> Option<String> {
    lead_of(event).or_else(|| event.company_ids.first().cloned())
}

fn lead_of(event: &Event) -> Option<String> {
    event
        .payload
        .get("leadCompanyId")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// What the event's message says in `lang`, with `names` filled in.
pub fn message(event: &Event, lang: Lang, names: &Names) -> Option<Message> {
    let words = words(&event.kind)?;
    let (title, body) = match lang {
        Lang::Ko => words.ko,
        Lang::En => words.en,
    };
    let fill = |text: &str| {
        text.replace("{company}", &names.company)
            .replace("{item}", &names.item)
    };
    Some(Message {
        title: fill(title),
        body: fill(body),
        link: words.link.replace("{id}", &event.subject_id),
    })
}

/// The voucher's code or the pilot's title, as the event carries it.
pub fn item_of(event: &Event) -> String {
    ["title", "code"]
        .iter()
        .find_map(|key| event.payload.get(*key).and_then(|v| v.as_str()))
        .unwrap_or_default()
        .to_owned()
}

/// An e-mail's plain text: the message, the link, and why the person gets it.
pub fn mail_text(message: &Message, url: &str, lang: Lang) -> String {
    let why = match lang {
        Lang::Ko => {
            "AX 실증밸리 플랫폼에서 보낸 알림입니다. 알림은 플랫폼의 알림함에서도 볼 수 있습니다."
        }
        Lang::En => {
            "A notification from the AX Valley platform. You can also read it in the platform's inbox."
        }
    };
    format!(
        "{}\n\n{}\n\n{url}\n\n--\n{why}\n",
        message.title, message.body
    )
}

/// The same e-mail as HTML, every piece of text escaped.
pub fn mail_html(message: &Message, url: &str, lang: Lang) -> String {
    let (open, why, html_lang) = match lang {
        Lang::Ko => (
            "플랫폼에서 보기",
            "AX 실증밸리 플랫폼에서 보낸 알림입니다. 알림은 플랫폼의 알림함에서도 볼 수 있습니다.",
            "ko",
        ),
        Lang::En => (
            "Open on the platform",
            "A notification from the AX Valley platform. You can also read it in the platform's inbox.",
            "en",
        ),
    };
    format!(
        "<!doctype html><html lang=\"{html_lang}\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;line-height:1.6\"><h1 style=\"font-size:20px\">{title}</h1>\
         <p>{body}</p><p><a href=\"{url}\">{open}</a></p><hr><p style=\"color:#555;font-size:13px\">{why}</p></body></html>",
        title = escape(&message.title),
        body = escape(&message.body),
        url = escape(url),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn event(kind: &str, companies: &[&str]) -> Event {
        Event::new("test", kind, "s1")
            .for_companies(companies.iter().map(|c| (*c).to_owned()).collect())
    }

    fn names() -> Names {
        Names {
            company: "광주바우처".into(),
            item: "자율주행 셔틀".into(),
        }
    }

    #[test]
    fn decisions_go_to_the_companys_members_and_requests_to_the_managers() {
        assert_eq!(
            audience(&event("company.approved", &["c1"])),
            Some(Audience::Members(vec!["c1".into()]))
        );
        // A pilot's decision: its lead only, partners (perhaps not yet accepted) not.
        let pilot = event("pilot.approved", &["lead", "partner"])
            .with_payload(serde_json::json!({ "leadCompanyId": "lead", "title": "셔틀" }));
        assert_eq!(
            audience(&pilot),
            Some(Audience::Members(vec!["lead".into()]))
        );
        assert_eq!(company_of(&pilot).as_deref(), Some("lead"));
        assert_eq!(audience(&event("pilot.approved", &["lead"])), None);
        for kind in [
            "company.submitted",
            "application.submitted",
            "pilot.submitted",
            "report.submitted",
        ] {
            assert_eq!(
                audience(&event(kind, &["c1"])),
                Some(Audience::Managers),
                "{kind}"
            );
        }
    }

    #[test]
    fn events_nobody_hears_of_have_no_audience() {
        // A draft, a review starting, an upload, and the voucher issued with its approval (the
        // approval's own message tells of it).
        for kind in [
            "company.created",
            "company.review_started",
            "usage.ingested",
            "voucher.issued",
            "pilot.updated",
        ] {
            assert_eq!(audience(&event(kind, &["c1"])), None, "{kind}");
        }
        // A decision about no company reaches nobody rather than everybody.
        assert_eq!(audience(&event("company.approved", &[])), None);
    }

    #[test]
    fn every_kind_has_its_words_in_both_languages_and_a_console_link() {
        for words in WORDS {
            let e = event(words.kind, &["c1"]);
            for lang in [Lang::Ko, Lang::En] {
                let m = message(&e, lang, &names()).unwrap();
                assert!(!m.title.contains('{') && !m.body.contains('{'), "{m:?}");
                assert!(m.link.starts_with('/'), "{m:?}");
                assert!(!m.link.contains("{id}"), "{m:?}");
            }
            let ko = message(&e, Lang::Ko, &names()).unwrap();
            assert!(
                ko.title.chars().any(|c| ('가'..='힣').contains(&c)),
                "{ko:?}"
            );
        }
        let approved = message(&event("company.approved", &["c1"]), Lang::Ko, &names()).unwrap();
        assert_eq!(approved.title, "기업 등록이 승인되었습니다: 광주바우처");
        assert_eq!(approved.link, "/companies/s1");
    }

    #[test]
    fn the_persons_language_or_korean() {
        assert_eq!(Lang::of(Some("en")), Lang::En);
        assert_eq!(Lang::of(Some("ko")), Lang::Ko);
        assert_eq!(Lang::of(None), Lang::Ko);
    }

    #[test]
    fn mail_bodies_carry_the_link_and_escape_what_firms_typed() {
        let m = Message {
            title: "승인: <b>A&B</b>".into(),
            body: "본문".into(),
            link: "/companies/c1".into(),
        };
        let url = "https://axv.example/companies/c1";
        let text = mail_text(&m, url, Lang::Ko);
        assert!(text.contains(url) && text.contains("승인: <b>A&B</b>"));
        let html = mail_html(&m, url, Lang::En);
        assert!(html.contains("&lt;b&gt;A&amp;B&lt;/b&gt;"), "{html}");
        assert!(html.contains("lang=\"en\""));
    }

    #[test]
    fn the_item_is_the_pilots_title_or_the_vouchers_code() {
        let pilot = Event::new("pilots", "pilot.approved", "p1")
            .with_payload(serde_json::json!({ "title": "셔틀" }));
        assert_eq!(item_of(&pilot), "셔틀");
        let voucher = Event::new("vouchers", "voucher.exhausted", "v1")
            .with_payload(serde_json::json!({ "code": "GPU-1" }));
        assert_eq!(item_of(&voucher), "GPU-1");
        assert_eq!(item_of(&event("company.approved", &[])), "");
    }
}
