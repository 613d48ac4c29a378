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

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }
}

/// What a message is about, as a person chooses how to hear of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// For the programme's managers: something waits for review.
    Review,
    /// Decisions on a company's registration.
    Company,
    /// Voucher applications decided, and a voucher's balance and term.
    Voucher,
    /// A pilot's decisions and pauses.
    Pilot,
    /// Outcome reports returned or verified.
    Report,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Review,
        Category::Company,
        Category::Voucher,
        Category::Pilot,
        Category::Report,
    ];

    /// The name stored and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Review => "review",
            Category::Company => "company",
            Category::Voucher => "voucher",
            Category::Pilot => "pilot",
            Category::Report => "report",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The categories a person of `role` hears of: managers what waits for review, a firm's
    /// members what is decided on their company and its work; other roles none yet.
    pub fn for_role(role: axv_auth::Role) -> &'static [Category] {
        use axv_auth::Role;
        match role {
            Role::ProgramManager => &[Category::Review],
            Role::FirmMember => &[
                Category::Company,
                Category::Voucher,
                Category::Pilot,
                Category::Report,
            ],
            _ => &[],
        }
    }
}

/// How a person wants a category's e-mail. The inbox keeps every message whatever is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// One e-mail per message, at once (everyone's default).
    #[default]
    Immediate,
    /// One e-mail a day gathering the messages since the last one.
    Digest,
    /// No e-mail.
    Off,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Immediate => "immediate",
            Delivery::Digest => "digest",
            Delivery::Off => "off",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Delivery::Immediate, Delivery::Digest, Delivery::Off]
            .into_iter()
            .find(|d| d.as_str() == name)
    }

    /// A stored value; anything unknown is the default, so a person is never silenced by it.
    pub fn parse(name: &str) -> Self {
        Self::from_name(name).unwrap_or_default()
    }
}

/// The category of an event people hear of.
pub fn category_of(kind: &str) -> Option<Category> {
    words(kind).map(|w| w.category)
}

/// The hour (Korea time, UTC+9 all year) the daily digest gathers what came before it.
pub const DIGEST_HOUR_KST: i64 = 8;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The latest digest moment at or before `now_ms` (unix ms): today's 08:00 in Korea once it
/// has passed, else yesterday's. What was filed before it goes in that day's digest.
pub fn digest_cutoff(now_ms: i64) -> i64 {
    let offset = i64::from(axv_platform::calendar::KST.local_minus_utc()) * 1000;
    let kst = now_ms + offset;
    let mut at = kst - kst.rem_euclid(DAY_MS) + DIGEST_HOUR_KST * HOUR_MS;
    if at > kst {
        at -= DAY_MS;
    }
    at - offset
}

/// What a message names: the company, and the voucher's code or the pilot's title.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub company: String,
    pub item: String,
    /// A date the message names (a period's end, a voucher's last day), as the person reads
    /// dates.
    pub when: String,
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
    /// What the message is about; `Review` goes to the programme's managers.
    category: Category,
    ko: (&'static str, &'static str),
    en: (&'static str, &'static str),
    link: &'static str,
}

/// Every event people hear of. `{id}` in a link is the event's subject.
const WORDS: &[Words] = &[
    Words {
        kind: "company.submitted",
        category: Category::Review,
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
        category: Category::Company,
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
        category: Category::Company,
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
        category: Category::Company,
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
        category: Category::Company,
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
        category: Category::Company,
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
        category: Category::Review,
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
        category: Category::Voucher,
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
        category: Category::Voucher,
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
        category: Category::Voucher,
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
        category: Category::Voucher,
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
        category: Category::Voucher,
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
        category: Category::Voucher,
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
        category: Category::Review,
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
        category: Category::Pilot,
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
        category: Category::Pilot,
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
        category: Category::Pilot,
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
        category: Category::Pilot,
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
        category: Category::Pilot,
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
        category: Category::Review,
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
        category: Category::Report,
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
        category: Category::Report,
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
    Words {
        kind: "report.due_soon",
        category: Category::Report,
        ko: (
            "성과 보고 기한이 다가옵니다: {item}",
            "실증사업 「{item}」의 이번 성과 보고 기간이 {when}에 끝납니다. 기간이 끝나면 성과 보고서를 제출해 주세요.",
        ),
        en: (
            "Outcome report coming due: {item}",
            "The reporting period of the pilot “{item}” ends on {when}. Submit its outcome report once it has ended.",
        ),
        link: "/reports",
    },
    Words {
        kind: "report.overdue",
        category: Category::Report,
        ko: (
            "성과 보고서 제출이 늦었습니다: {item}",
            "실증사업 「{item}」의 성과 보고서가 {when}에 끝난 기간부터 제출되지 않았습니다. 제출할 때까지 매주 알려 드립니다.",
        ),
        en: (
            "Outcome report overdue: {item}",
            "The pilot “{item}” owes outcome reports from the period that ended on {when}. We will remind you weekly until they are submitted.",
        ),
        link: "/reports",
    },
    Words {
        kind: "voucher.expiring",
        category: Category::Voucher,
        ko: (
            "바우처 사용 기간이 곧 끝납니다: {item}",
            "{company}의 바우처(바우처 번호 {item})는 {when}까지 쓸 수 있습니다. 그 뒤에는 남은 시간을 쓸 수 없습니다.",
        ),
        en: (
            "Voucher expiring soon: {item}",
            "{company}'s voucher {item} can be used until {when}. Time left after that cannot be used.",
        ),
        link: "/vouchers/{id}",
    },
];

fn words(kind: &str) -> Option<&'static Words> {
    WORDS.iter().find(|w| w.kind == kind)
}

/// Who must know of `event`; `None` for events nobody is told of. A pilot's decisions go to
/// its lead company, which acts on them (partners may not have accepted their invitation).
pub fn audience(event: &Event) -> Option<Audience> {
    let words = words(&event.kind)?;
    if words.category == Category::Review {
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
            .replace("{when}", &names.when)
    };
    Some(Message {
        title: fill(title),
        body: fill(body),
        link: words.link.replace("{id}", &event.subject_id),
    })
}

/// The date an event names (`date`, `YYYY-MM-DD`), written as `lang` reads dates: Korean
/// `2026년 12월 31일`, English `31 December 2026`.
pub fn when_of(event: &Event, lang: Lang) -> String {
    let Some(date) = event
        .payload
        .get("date")
        .and_then(|v| v.as_str())
        .and_then(|d| d.parse::<chrono::NaiveDate>().ok())
    else {
        return String::new();
    };
    match lang {
        Lang::Ko => date.format("%Y년 %-m월 %-d일").to_string(),
        Lang::En => date.format("%-d %B %Y").to_string(),
    }
}

/// The voucher's code or the pilot's title, as the event carries it.
pub fn item_of(event: &Event) -> String {
    ["title", "code"]
        .iter()
        .find_map(|key| event.payload.get(*key).and_then(|v| v.as_str()))
        .unwrap_or_default()
        .to_owned()
}

/// The site's name as e-mail subjects begin with it.
pub fn site(lang: Lang) -> &'static str {
    match lang {
        Lang::Ko => "AX 실증밸리",
        Lang::En => "AX Valley",
    }
}

/// Where an e-mail's footer leads: the person's notification settings, and the one-click
/// unsubscribe from what this e-mail is (its category, or every digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailLinks {
    pub settings: String,
    pub unsubscribe: Option<String>,
}

/// Why the person gets the e-mail and how to change it: (line, link) pairs after the reason.
fn footer(
    links: &MailLinks,
    lang: Lang,
    digest: bool,
) -> (&'static str, Vec<(&'static str, &str)>) {
    let (why, settings, stop) = match (lang, digest) {
        (Lang::Ko, false) => (
            "AX 실증밸리 플랫폼에서 보낸 알림입니다. 알림은 플랫폼의 알림함에서도 볼 수 있습니다.",
            "알림 이메일 받는 방법 바꾸기",
            "이 종류의 알림 이메일 그만 받기",
        ),
        (Lang::Ko, true) => (
            "AX 실증밸리 플랫폼에서 하루 한 번 모아 보내는 알림입니다. 알림은 플랫폼의 알림함에서도 볼 수 있습니다.",
            "알림 이메일 받는 방법 바꾸기",
            "모아보기 이메일 그만 받기",
        ),
        (Lang::En, false) => (
            "A notification from the AX Valley platform. You can also read it in the platform's inbox.",
            "Choose how you get notification e-mail",
            "Stop e-mail of this kind",
        ),
        (Lang::En, true) => (
            "Your daily digest from the AX Valley platform. You can also read these in the platform's inbox.",
            "Choose how you get notification e-mail",
            "Stop the digest e-mail",
        ),
    };
    let mut lines = vec![(settings, links.settings.as_str())];
    if let Some(unsubscribe) = &links.unsubscribe {
        lines.push((stop, unsubscribe.as_str()));
    }
    (why, lines)
}

fn text_footer(links: &MailLinks, lang: Lang, digest: bool) -> String {
    let (why, lines) = footer(links, lang, digest);
    let mut text = format!("--\n{why}\n");
    for (label, url) in lines {
        text.push_str(&format!("{label}: {url}\n"));
    }
    text
}

fn html_page(lang: Lang, title: &str, content: &str, links: &MailLinks, digest: bool) -> String {
    let (why, lines) = footer(links, lang, digest);
    let html_lang = lang.as_str();
    let links: String = lines
        .into_iter()
        .map(|(label, url)| format!("<br><a href=\"{}\">{}</a>", escape(url), escape(label)))
        .collect();
    format!(
        "<!doctype html><html lang=\"{html_lang}\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;line-height:1.6\">{content}<hr>\
         <p style=\"color:#555;font-size:13px\">{why}{links}</p></body></html>",
        title = escape(title),
        why = escape(why),
    )
}

fn open_label(lang: Lang) -> &'static str {
    match lang {
        Lang::Ko => "플랫폼에서 보기",
        Lang::En => "Open on the platform",
    }
}

/// An e-mail's plain text: the message, its link (`url`), and why the person gets it.
pub fn mail_text(message: &Message, url: &str, links: &MailLinks, lang: Lang) -> String {
    format!(
        "{}\n\n{}\n\n{url}\n\n{}",
        message.title,
        message.body,
        text_footer(links, lang, false)
    )
}

/// The same e-mail as HTML, every piece of text escaped.
pub fn mail_html(message: &Message, url: &str, links: &MailLinks, lang: Lang) -> String {
    let content = format!(
        "<h1 style=\"font-size:20px\">{title}</h1><p>{body}</p><p><a href=\"{url}\">{open}</a></p>",
        title = escape(&message.title),
        body = escape(&message.body),
        url = escape(url),
        open = open_label(lang),
    );
    html_page(lang, &message.title, &content, links, false)
}

/// A password reset was asked for: the person gets a link by e-mail, whatever their settings
/// (a security message), and nothing in the inbox (they cannot sign in).
pub const PASSWORD_RESET_REQUESTED: &str = "account.password_reset_requested";

/// The reset e-mail: (subject, plain text, HTML), with the link `url` valid for `minutes`.
pub fn password_reset_mail(
    name: &str,
    url: &str,
    minutes: i64,
    lang: Lang,
) -> (String, String, String) {
    let (title, lines, open, why) = match lang {
        Lang::Ko => (
            "비밀번호 재설정 안내",
            [
                format!("{name}님, 비밀번호를 다시 정하려면 아래 링크를 여세요."),
                format!("링크는 {minutes}분 동안 한 번만 쓸 수 있습니다."),
                "비밀번호 재설정을 요청하지 않았다면 이 메일을 무시하세요. 비밀번호는 바뀌지 않습니다."
                    .to_owned(),
            ],
            "새 비밀번호 정하기",
            "AX 실증밸리 플랫폼의 보안 알림입니다. 보안 알림은 끌 수 없습니다.",
        ),
        Lang::En => (
            "Resetting your password",
            [
                format!("{name}, open the link below to choose a new password."),
                format!("The link works once, for {minutes} minutes."),
                "If you did not ask for this, ignore this e-mail: your password stays as it is."
                    .to_owned(),
            ],
            "Choose a new password",
            "A security message from the AX Valley platform. Security messages cannot be turned off.",
        ),
    };
    let subject = format!("[{}] {title}", site(lang));
    let text = format!(
        "{title}\n\n{}\n{}\n\n{url}\n\n{}\n\n--\n{why}\n",
        lines[0], lines[1], lines[2]
    );
    let html_lang = lang.as_str();
    let html = format!(
        "<!doctype html><html lang=\"{html_lang}\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;line-height:1.6\"><h1 style=\"font-size:20px\">{title}</h1>\
         <p>{l0}<br>{l1}</p><p><a href=\"{url}\">{open}</a></p><p>{l2}</p><hr>\
         <p style=\"color:#555;font-size:13px\">{why}</p></body></html>",
        title = escape(title),
        l0 = escape(&lines[0]),
        l1 = escape(&lines[1]),
        l2 = escape(&lines[2]),
        url = escape(url),
        open = escape(open),
        why = escape(why),
    );
    (subject, text, html)
}

/// The daily digest's subject, counting its messages.
pub fn digest_subject(count: usize, lang: Lang) -> String {
    match (lang, count) {
        (Lang::Ko, _) => format!("[{}] 알림 모아보기 {count}건", site(lang)),
        (Lang::En, 1) => format!("[{}] Your daily digest: 1 notification", site(lang)),
        (Lang::En, _) => format!("[{}] Your daily digest: {count} notifications", site(lang)),
    }
}

/// The digest's plain text: each message (oldest first) with its link.
pub fn digest_text(entries: &[(Message, String)], links: &MailLinks, lang: Lang) -> String {
    let mut text = match (lang, entries.len()) {
        (Lang::Ko, n) => format!("모아 둔 알림 {n}건입니다.\n\n"),
        (Lang::En, 1) => "1 notification gathered for you.\n\n".to_owned(),
        (Lang::En, n) => format!("{n} notifications gathered for you.\n\n"),
    };
    for (message, url) in entries {
        text.push_str(&format!("■ {}\n{}\n{url}\n\n", message.title, message.body));
    }
    text.push_str(&text_footer(links, lang, true));
    text
}

/// The digest as HTML.
pub fn digest_html(entries: &[(Message, String)], links: &MailLinks, lang: Lang) -> String {
    let subject = digest_subject(entries.len(), lang);
    let mut content = format!("<h1 style=\"font-size:20px\">{}</h1><ul>", escape(&subject));
    for (message, url) in entries {
        content.push_str(&format!(
            "<li><p><strong>{title}</strong><br>{body}<br><a href=\"{url}\">{open}</a></p></li>",
            title = escape(&message.title),
            body = escape(&message.body),
            url = escape(url),
            open = open_label(lang),
        ));
    }
    content.push_str("</ul>");
    html_page(lang, &subject, &content, links, true)
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
            when: "2026년 12월 31일".into(),
        }
    }

    #[test]
    fn dates_are_written_as_each_language_reads_them() {
        let e = Event::new("notify", "voucher.expiring", "v1")
            .with_payload(serde_json::json!({ "date": "2026-12-31" }));
        assert_eq!(when_of(&e, Lang::Ko), "2026년 12월 31일");
        assert_eq!(when_of(&e, Lang::En), "31 December 2026");
        assert_eq!(when_of(&event("company.approved", &[]), Lang::Ko), "");
        let e = e.for_companies(vec!["c1".into()]);
        let names = Names {
            when: when_of(&e, Lang::Ko),
            ..names()
        };
        let m = message(&e, Lang::Ko, &names).unwrap();
        assert!(m.body.contains("2026년 12월 31일까지"), "{m:?}");
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
        let text = mail_text(&m, url, &links(), Lang::Ko);
        assert!(text.contains(url) && text.contains("승인: <b>A&B</b>"));
        assert!(
            text.contains("이 종류의 알림 이메일 그만 받기: https://axv.example/unsubscribe/t1")
        );
        assert!(text.contains("https://axv.example/account/notifications"));
        let html = mail_html(&m, url, &links(), Lang::En);
        assert!(html.contains("&lt;b&gt;A&amp;B&lt;/b&gt;"), "{html}");
        assert!(html.contains("lang=\"en\""));
        assert!(
            html.contains("href=\"https://axv.example/unsubscribe/t1\""),
            "{html}"
        );
    }

    fn links() -> MailLinks {
        MailLinks {
            settings: "https://axv.example/account/notifications".into(),
            unsubscribe: Some("https://axv.example/unsubscribe/t1".into()),
        }
    }

    #[test]
    fn a_digest_lists_each_message_oldest_first_with_its_link() {
        let entries: Vec<(Message, String)> = ["첫째", "둘째"]
            .iter()
            .map(|t| {
                (
                    Message {
                        title: (*t).into(),
                        body: format!("{t} 본문"),
                        link: "/vouchers".into(),
                    },
                    "https://axv.example/vouchers".into(),
                )
            })
            .collect();
        assert_eq!(
            digest_subject(2, Lang::Ko),
            "[AX 실증밸리] 알림 모아보기 2건"
        );
        assert_eq!(
            digest_subject(1, Lang::En),
            "[AX Valley] Your daily digest: 1 notification"
        );
        let text = digest_text(&entries, &links(), Lang::Ko);
        let first = text.find("■ 첫째").unwrap();
        let second = text.find("■ 둘째").unwrap();
        assert!(first < second, "{text}");
        assert!(text.contains("모아보기 이메일 그만 받기: https://axv.example/unsubscribe/t1"));
        let html = digest_html(&entries, &links(), Lang::En);
        assert!(
            html.contains("Your daily digest: 2 notifications"),
            "{html}"
        );
        assert!(html.matches("<li>").count() == 2, "{html}");
    }

    #[test]
    fn the_digest_gathers_what_came_before_eight_in_korea() {
        // 2026-12-07 08:00 KST is 2026-12-06 23:00 UTC.
        let eight = chrono::DateTime::parse_from_rfc3339("2026-12-07T08:00:00+09:00")
            .unwrap()
            .timestamp_millis();
        assert_eq!(digest_cutoff(eight), eight);
        assert_eq!(digest_cutoff(eight + 1), eight);
        assert_eq!(digest_cutoff(eight + 23 * HOUR_MS), eight);
        assert_eq!(digest_cutoff(eight - 1), eight - DAY_MS);
        assert_eq!(digest_cutoff(eight + DAY_MS), eight + DAY_MS);
    }

    #[test]
    fn every_kind_has_a_category_and_each_role_hears_its_own() {
        assert_eq!(category_of("company.submitted"), Some(Category::Review));
        assert_eq!(category_of("report.submitted"), Some(Category::Review));
        assert_eq!(category_of("company.approved"), Some(Category::Company));
        assert_eq!(category_of("application.approved"), Some(Category::Voucher));
        assert_eq!(category_of("voucher.low_balance"), Some(Category::Voucher));
        assert_eq!(category_of("pilot.suspended"), Some(Category::Pilot));
        assert_eq!(category_of("report.returned"), Some(Category::Report));
        assert_eq!(category_of("usage.ingested"), None);
        // A manager hears of review only; every category reaches some role.
        assert_eq!(
            Category::for_role(axv_auth::Role::ProgramManager),
            &[Category::Review]
        );
        for category in Category::ALL {
            assert_eq!(Category::parse(category.as_str()), Some(category));
            assert!(
                [axv_auth::Role::ProgramManager, axv_auth::Role::FirmMember]
                    .iter()
                    .any(|r| Category::for_role(*r).contains(&category)),
                "{category:?}"
            );
        }
        assert_eq!(Category::parse("security"), None);
    }

    #[test]
    fn an_unknown_stored_delivery_is_the_default() {
        for d in [Delivery::Immediate, Delivery::Digest, Delivery::Off] {
            assert_eq!(Delivery::parse(d.as_str()), d);
        }
        assert_eq!(Delivery::parse("weekly"), Delivery::Immediate);
    }

    #[test]
    fn the_reset_mail_names_the_person_and_the_link_and_escapes_the_name() {
        let url = "https://axv.example/password/reset/t1";
        let (subject, text, html) = password_reset_mail("김<민준>", url, 30, Lang::Ko);
        assert_eq!(subject, "[AX 실증밸리] 비밀번호 재설정 안내");
        assert!(text.contains("김<민준>님") && text.contains(url) && text.contains("30분"));
        assert!(
            html.contains("김&lt;민준&gt;님") && html.contains(url),
            "{html}"
        );
        let (subject, text, _) = password_reset_mail("Kim", url, 30, Lang::En);
        assert!(subject.contains("Resetting your password"));
        assert!(text.contains("30 minutes"));
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
