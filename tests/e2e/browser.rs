//! The console in a real browser: Debian's Chromium driven over WebDriver (chromedriver), on
//! the embedded default and on Postgres with Redis, clicking and typing as a person does. Every
//! page visited passes axe-core with no serious or critical violation, loads nothing from
//! another origin, and is saved as a screenshot under the target directory.
//!
//! Without `chromedriver` on the PATH these tests skip, except in CI (`CI=true`), where
//! `.ci/run` installs it.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use axv_auth::Role;
use axv_e2e::{PASSWORD, TestPlatform, business_number};
use axv_testkit::processes::free_port;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::{act, outcomes::publish_release};

const AXE: &str = include_str!("vendor/axe-core/axe.min.js");

/// A headless Chromium behind its own chromedriver.
struct Browser {
    client: Client,
    driver: Child,
    base: String,
    /// Screenshots are named `<test>-<n>-<page>.png`.
    test: &'static str,
    shots: usize,
    /// With JavaScript off the page runs nothing, axe included: those pages are the same HTML
    /// the JavaScript runs check.
    javascript: bool,
}

impl Browser {
    /// `None` when there is no chromedriver here (and this is not CI).
    async fn start(base: String, test: &'static str, javascript: bool) -> Option<Self> {
        let port = free_port();
        let driver = match Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                assert!(
                    std::env::var("CI").is_err(),
                    "CI runs .ci/run, which installs chromium-driver: {error}"
                );
                eprintln!("skipping the browser test: no chromedriver ({error})");
                return None;
            }
        };
        // A browser in a Korean office asks for Korean first.
        let mut prefs = json!({ "intl.accept_languages": "ko-KR,ko,en" });
        if !javascript {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    // Tall enough that a form's buttons are on screen without scrolling.
                    "--window-size=1400,1800",
                    "--lang=ko-KR",
                    // No smooth scrolling, so a click lands where the button is.
                    "--force-prefers-reduced-motion",
                ],
                "prefs": prefs,
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..50 {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities.clone());
            match builder.connect(&url).await {
                Ok(client) => {
                    return Some(Self {
                        client,
                        driver,
                        base,
                        test,
                        shots: 0,
                        javascript,
                    });
                }
                Err(error) => last_error = Some(error.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last_error:?}");
    }

    async fn goto(&mut self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap_or_default()
    }

    /// The page's text; empty while a navigation is between pages.
    async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Chooses `file` in the file field `css`, as a person picking it in the dialog does.
    async fn choose_file(&self, css: &str, file: &std::path::Path) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .send_keys(&file.display().to_string())
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    async fn value(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .prop("value")
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    async fn is_checked(&self, css: &str) -> bool {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .prop("checked")
            .await
            .ok()
            .flatten()
            .is_some_and(|checked| checked == "true")
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    async fn click_link(&self, text: &str) {
        self.client
            .find(Locator::LinkText(text))
            .await
            .unwrap_or_else(|e| panic!("link {text}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("link {text}: {e}"));
    }

    async fn path(&self) -> String {
        let url = self
            .client
            .current_url()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut path = url.path().to_owned();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        path
    }

    /// Waits until the page's text contains `text` (htmx swaps and redirects take a moment).
    async fn wait_for(&self, text: &str) {
        for _ in 0..50 {
            if self.page_text().await.contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{text:?} never appeared: {}", self.page_text().await);
    }

    /// The checks every page passes: axe-core (no serious or critical violation), nothing
    /// loaded from another origin, and a screenshot for people to look at.
    async fn check_page(&mut self, name: &str) {
        self.shots += 1;
        let png = self.client.screenshot().await.unwrap_or_default();
        let dir = std::path::Path::new(
            &std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
        )
        .join("console-screenshots");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            dir.join(format!("{}-{:02}-{name}.png", self.test, self.shots)),
            png,
        );
        if !self.javascript {
            return;
        }
        let resources = self
            .client
            .execute(
                "return performance.getEntriesByType('resource').map(e => e.name)",
                vec![],
            )
            .await
            .unwrap_or(Value::Null);
        for resource in resources.as_array().into_iter().flatten() {
            let url = resource.as_str().unwrap_or_default();
            assert!(
                url.starts_with(&self.base),
                "{name} loaded {url} from another origin"
            );
        }
        self.client
            .execute(AXE, vec![])
            .await
            .unwrap_or_else(|e| panic!("axe did not load on {name}: {e}"));
        let results = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 3) }))))
                    .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("axe did not run on {name}: {e}"));
        let serious: Vec<&Value> = results
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(serious.is_empty(), "{name}: {serious:#?}");
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// An anonymous visitor reads the figures of the latest release, the registry, a pilot, and
/// meets the 404 page for a pilot that does not exist.
async fn anonymous_visitor(p: &TestPlatform, test: &'static str) {
    let manager = p.token(Role::ProgramManager);
    publish_release(p, &manager, "데모 공표").await;
    let Some(mut b) = Browser::start(p.base_url(), test, true).await else {
        return;
    };
    b.goto("/").await;
    assert_eq!(b.text("h1").await, "광주 AX 실증밸리 성과");
    let release = b.text("#release").await;
    assert!(release.contains("제1차 공표"), "{release}");
    let figures = b.text(".figures").await;
    assert!(figures.contains("₩996억"), "{figures}");
    assert!(figures.contains("2,173명"), "{figures}");
    assert!(b.page_text().await.contains("연도별 매출"));
    b.check_page("home").await;

    b.click_link("실증사업").await;
    b.wait_for("실증사업 현황").await;
    let count = b.text("#registry-results [role=status]").await;
    assert!(count.starts_with("총 "), "{count}");
    b.check_page("registry").await;
    // Filtering refreshes the results in place (htmx) and keeps the address shareable.
    b.fill("#q", "자율주행").await;
    b.click("form.filters button[type=submit]").await;
    b.wait_for("자율주행").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.path().await.contains("q=%EC%9E%90"), "{}", b.path().await);
    let first = b
        .client
        .find(Locator::Css("#registry-results tbody a"))
        .await
        .unwrap();
    let title = first.text().await.unwrap();
    first.click().await.unwrap();
    b.wait_for("주관 기업").await;
    assert_eq!(b.text("h1").await, title);
    b.check_page("pilot").await;

    b.goto("/pilots/0191c3a0-0000-7000-8000-000000000000").await;
    assert_eq!(b.text("h1").await, "페이지를 찾을 수 없습니다");
    b.check_page("not-found").await;

    // The same page in English, one click away.
    b.goto("/").await;
    b.click_link("English").await;
    b.wait_for("What Gwangju's AX Valley achieved").await;
    assert!(b.text(".figures").await.contains("₩99.6B"));
    b.check_page("home-en").await;
    b.close().await;
}

/// A new person signs up (a mistyped confirmation first), signs out, fails a sign-in, and
/// signs in; what was typed survives every refusal except passwords.
async fn a_person_signs_up_and_in(p: &TestPlatform, test: &'static str, javascript: bool) {
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.goto("/").await;
    b.click_link("회원가입").await;
    b.wait_for("비밀번호 확인").await;
    b.fill("#name", "김광주").await;
    b.fill("#email", "kim@browser.kr").await;
    b.fill("#password", "correct horse battery").await;
    b.fill("#password_confirm", "correct horse batterx").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("두 비밀번호가 같지 않습니다").await;
    assert_eq!(b.value("#name").await, "김광주");
    assert_eq!(b.value("#email").await, "kim@browser.kr");
    assert_eq!(
        b.value("#password").await,
        "",
        "passwords are never sent back"
    );
    b.check_page("signup-refused").await;
    // The API's rule (too short a password) is said in Korean beside the field.
    b.fill("#password", "short").await;
    b.fill("#password_confirm", "short").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("비밀번호가 너무 짧습니다").await;
    assert!(
        b.text("#password-error").await.contains("12자 이상"),
        "{}",
        b.page_text().await
    );
    assert_eq!(b.value("#email").await, "kim@browser.kr");
    b.fill("#password", "correct horse battery").await;
    b.fill("#password_confirm", "correct horse battery").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("가입을 환영합니다").await;
    assert_eq!(b.path().await, "/account");
    assert!(b.page_text().await.contains("kim@browser.kr"));
    assert!(b.page_text().await.contains("기업 회원"));
    b.check_page("account").await;

    b.click(".site-actions form button").await;
    b.wait_for("로그아웃했습니다").await;
    b.check_page("signed-out").await;
    b.goto("/account").await;
    assert_eq!(b.path().await, "/login", "my account needs a sign-in");

    b.fill("#email", "kim@browser.kr").await;
    b.fill("#password", "wrong password here").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("이메일 또는 비밀번호가 맞지 않습니다").await;
    assert_eq!(b.value("#email").await, "kim@browser.kr");
    b.check_page("login-refused").await;
    b.fill("#password", "correct horse battery").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("로그인했습니다").await;
    assert!(b.text(".site-actions").await.contains("김광주"));
    b.close().await;
}

impl Browser {
    async fn sign_in(&mut self, email: &str) {
        self.sign_in_with(email, PASSWORD).await;
    }

    async fn sign_in_with(&mut self, email: &str, password: &str) {
        self.goto("/login").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("form.form-narrow button[type=submit]").await;
        self.wait_for("로그인했습니다").await;
    }
}

/// A firm registers its company: a mistyped business number is caught as it is typed (and
/// again by the server), the draft is saved, submitted, approved by a manager, and the firm
/// follows it on the timeline. Another firm opening its address gets the 404 page.
async fn a_firm_registers_its_company(p: &TestPlatform, test: &'static str, javascript: bool) {
    p.sign_up("owner@company.kr").await;
    p.sign_up("other@company.kr").await;
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in("owner@company.kr").await;
    b.click_link("내 기업").await;
    b.wait_for("아직 등록한 기업이 없습니다").await;
    b.check_page("companies-empty").await;
    b.click_link("기업 등록").await;
    b.wait_for("사업자등록번호").await;
    b.fill("#business_number", "120-81-47522").await;
    if javascript {
        // Checked as it is typed.
        b.wait_for("검증 숫자가 맞지 않습니다").await;
    }
    b.fill("#name_ko", "광주비전랩").await;
    b.fill("#employees", "스물").await;
    b.click("button[value=draft]").await;
    b.wait_for("표시된 항목을 고쳐 주세요").await;
    assert!(b.page_text().await.contains("검증 숫자가 맞지 않습니다"));
    assert!(
        b.page_text()
            .await
            .contains("0 이상의 정수로 입력해 주세요")
    );
    assert_eq!(
        b.value("#name_ko").await,
        "광주비전랩",
        "what was typed is kept"
    );
    b.check_page("company-refused").await;
    let number = business_number(7701);
    b.fill("#business_number", &number).await;
    if javascript {
        b.wait_for("올바른 번호입니다").await;
    }
    b.fill("#employees", "20").await;
    b.click("button[value=draft]").await;
    b.wait_for("임시 저장했습니다").await;
    let path = b.path().await;
    let id = path.trim_start_matches("/companies/").to_owned();
    assert!(b.page_text().await.contains("작성 중"));
    b.check_page("company-draft").await;
    b.click("form[action$=submit] button").await;
    b.wait_for("제출했습니다").await;
    assert!(b.page_text().await.contains("제출됨"));

    let manager = p.token(Role::ProgramManager);
    act(p, &manager, "startCompanyReview", &id, None).await;
    act(p, &manager, "approveCompany", &id, Some("서류 확인 완료")).await;
    b.goto(&format!("/companies/{id}")).await;
    let text = b.page_text().await;
    assert!(
        text.contains("승인") && text.contains("서류 확인 완료"),
        "{text}"
    );
    b.check_page("company-approved").await;
    b.close().await;

    // Another firm's address is a 404 page, exactly like an address that does not exist.
    let Some(mut other) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    other.sign_in("other@company.kr").await;
    other.goto(&format!("/companies/{id}")).await;
    assert_eq!(other.text("h1").await, "페이지를 찾을 수 없습니다");
    other.goto(&format!("/companies/{id}/edit")).await;
    assert_eq!(other.text("h1").await, "페이지를 찾을 수 없습니다");
    other.close().await;
}

/// A firm attaches its business registration certificate to its draft company (a program
/// renamed `.pdf` is refused in words naming the file, a wrong file is taken back), submits,
/// and can no longer add or delete; the manager finds the file on the review page and
/// downloads it as an attachment under a policy that lets nothing run. Another firm's download
/// address is the 404 page.
async fn a_firm_attaches_its_certificate(p: &TestPlatform, test: &'static str, javascript: bool) {
    let firm = p.sign_up("papers@company.kr").await;
    p.sign_up("stranger@company.kr").await;
    p.staff_account("pm@papers.kr", "서류담당", Role::ProgramManager)
        .await;
    let company = super::create_company(p, &firm, &business_number(7702), "광주서류랩").await;
    let dir = tempfile::tempdir().unwrap();
    let certificate = dir.path().join("사업자등록증.pdf");
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.resize(150 * 1024, b'0');
    pdf.extend_from_slice(b"\n%%EOF\n");
    std::fs::write(&certificate, &pdf).unwrap();
    let program = dir.path().join("견적서.pdf");
    std::fs::write(&program, [b"MZ\x90\x00".as_slice(), &[0; 4096]].concat()).unwrap();
    let wrong = dir.path().join("잘못 올린 파일.pdf");
    std::fs::write(&wrong, &pdf).unwrap();

    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in("papers@company.kr").await;
    b.goto(&format!("/companies/{company}")).await;
    b.wait_for("첨부한 파일이 없습니다").await;
    b.check_page("documents-empty").await;
    b.choose_file("#document_file", &certificate).await;
    b.click("form[action='/files'] button[type=submit]").await;
    b.wait_for("파일을 올렸습니다").await;
    assert!(b.page_text().await.contains("사업자등록증.pdf"));
    b.check_page("documents-uploaded").await;
    b.choose_file("#document_file", &program).await;
    b.click("form[action='/files'] button[type=submit]").await;
    b.wait_for("‘견적서.pdf’ 파일은 올릴 수 없는 형식입니다")
        .await;
    b.check_page("documents-refused").await;
    b.choose_file("#document_file", &wrong).await;
    b.click("form[action='/files'] button[type=submit]").await;
    b.wait_for("잘못 올린 파일.pdf").await;
    // The second row's delete button: the wrong file.
    b.click("tbody tr:nth-child(2) a[href*='/delete']").await;
    // Asked first: a deleted file cannot be restored.
    b.wait_for("지운 파일은 되살릴 수 없습니다").await;
    b.check_page("documents-delete-confirm").await;
    b.click("form[action$='/delete'] button").await;
    b.wait_for("파일을 지웠습니다").await;
    assert!(!b.page_text().await.contains("잘못 올린 파일.pdf"));
    b.click("form[action$=submit] button").await;
    b.wait_for("제출했습니다").await;
    let submitted = b.page_text().await;
    assert!(submitted.contains("사업자등록증.pdf"), "{submitted}");
    assert!(
        b.client.find(Locator::Css("#document_file")).await.is_err(),
        "a submitted company takes no more files"
    );
    b.close().await;

    let Some(mut m) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    m.sign_in("pm@papers.kr").await;
    m.goto(&format!("/review/companies/{company}")).await;
    m.wait_for("사업자등록증.pdf").await;
    m.check_page("documents-review").await;
    let link = m.href("a[href^='/files/']").await;
    // The download as the browser fetches it: with the manager's session cookie.
    let download = m.download(p, &link).await;
    assert_eq!(download.status(), reqwest::StatusCode::OK);
    let headers = download.headers().clone();
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; ")
    );
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), pdf.as_slice());
    m.close().await;

    let Some(mut other) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    other.sign_in("stranger@company.kr").await;
    other.goto(&link).await;
    assert_eq!(other.text("h1").await, "페이지를 찾을 수 없습니다");
    other.close().await;
}

#[tokio::test]
async fn a_firm_attaches_its_certificate_with_javascript() {
    let p = TestPlatform::start().await;
    a_firm_attaches_its_certificate(&p, "documents-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn a_firm_attaches_its_certificate_without_javascript() {
    let p = TestPlatform::start_embedded().await;
    a_firm_attaches_its_certificate(&p, "documents-nojs", false).await;
    p.stop().await;
}

/// A firm applies for a voucher in GPU-hours beside the programme's cap and what is left, a
/// mistake first; a manager grants it; the firm reads its balance and ledger in hours and
/// downloads the ledger for Excel. Another firm's voucher is a 404 page.
async fn a_firm_applies_for_a_voucher(p: &TestPlatform, test: &'static str, javascript: bool) {
    let firm = p.sign_up("gpu@voucher.kr").await;
    p.approved_company(&firm, 7801, "광주GPU랩").await;
    p.sign_up("stranger@voucher.kr").await;
    p.open_programme().await;
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in("gpu@voucher.kr").await;
    b.click_link("바우처").await;
    b.wait_for("아직 발급된 바우처가 없습니다").await;
    b.click_link("바우처 신청").await;
    b.wait_for("접수 중인 공모").await;
    let programmes = b.text("table.data").await;
    // The cap (100,000 GPU-seconds) in hours, and all of it left for the company.
    assert!(programmes.contains("27.8시간"), "{programmes}");
    assert!(programmes.contains("광주GPU랩"), "{programmes}");
    assert_eq!(
        programmes.matches("27.8시간").count(),
        2,
        "cap and what is left: {programmes}"
    );
    b.check_page("voucher-apply").await;
    b.fill("#hours", "열 시간").await;
    b.fill("#justification", "자율주행 인지 모델 학습").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("1 이상의 정수 시간으로 입력해 주세요").await;
    assert_eq!(b.value("#justification").await, "자율주행 인지 모델 학습");
    b.fill("#hours", "10").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("신청했습니다").await;
    assert!(b.page_text().await.contains("검토 중"));

    // A manager approves it through the API (the manager's pages are part 2).
    let manager = p.token(Role::ProgramManager);
    let pending = p
        .graphql(
            Some(&manager),
            "{ voucherApplications(filter: { statuses: [SUBMITTED] }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let application = pending["data"]["voucherApplications"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let approved = p
        .graphql(
            Some(&manager),
            "mutation($id: ID!) { approveVoucherApplication(id: $id) { id code } }",
            json!({ "id": application }),
        )
        .await;
    let voucher = approved["data"]["approveVoucherApplication"].clone();
    assert!(voucher["id"].is_string(), "{approved}");
    let (id, code) = (
        voucher["id"].as_str().unwrap().to_owned(),
        voucher["code"].as_str().unwrap().to_owned(),
    );
    let operator = p.token(Role::Operator);
    let ended = chrono::Utc::now();
    let used = p
        .graphql(
            Some(&operator),
            "mutation($input: UsageInput!) { recordUsage(input: $input) { id } }",
            json!({ "input": {
                "cluster": "gwangju-h100",
                "jobId": "4242",
                "voucherCode": code,
                "amount": 5_400,
                "startedAt": (ended - chrono::Duration::seconds(5_400)).to_rfc3339(),
                "endedAt": ended.to_rfc3339(),
            } }),
        )
        .await;
    assert!(used["errors"].is_null(), "{used}");

    b.goto("/vouchers").await;
    b.click_link(&code).await;
    b.wait_for("사용 내역").await;
    let figures = b.text(".figures").await;
    assert!(figures.contains("10시간"), "granted: {figures}");
    assert!(
        figures.contains("8.5시간"),
        "balance after 1.5 h: {figures}"
    );
    let ledger = b.page_text().await;
    assert!(
        ledger.contains("-1.5") && ledger.contains("4242"),
        "{ledger}"
    );
    b.check_page("voucher").await;
    // The ledger as CSV, in the same session.
    let csv = b.download(p, &format!("/vouchers/{id}/ledger.csv")).await;
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let bytes = csv.bytes().await.unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "a byte order mark for Excel"
    );
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("사용,-1.5,8.5,job 4242 on gwangju-h100"),
        "{text}"
    );
    b.close().await;

    let Some(mut other) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    other.sign_in("stranger@voucher.kr").await;
    other.goto(&format!("/vouchers/{id}")).await;
    assert_eq!(other.text("h1").await, "페이지를 찾을 수 없습니다");
    other.close().await;
}

impl Browser {
    /// Sets a date field as a date picker would (its typed form depends on the browser's locale).
    async fn set_date(&self, id: &str, date: chrono::NaiveDate) {
        self.set_value(id, &date.format("%Y-%m-%d").to_string())
            .await;
    }

    /// `path` as the browser downloads it: with this browser's session cookie.
    async fn download(&self, p: &TestPlatform, path: &str) -> reqwest::Response {
        let cookies: Vec<String> = self
            .client
            .get_all_cookies()
            .await
            .unwrap()
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        p.http
            .get(format!("{}{path}", p.base_url()))
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap()
    }

    /// Where the first link matching `css` goes.
    async fn href(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .attr("href")
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("{css} has no href"))
    }

    /// Sets the field with id `id` (a select's option by its value) as a person choosing it.
    async fn set_value(&self, id: &str, value: &str) {
        self.client
            .execute(
                "document.getElementById(arguments[0]).value = arguments[1]",
                vec![json!(id), json!(value)],
            )
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }

    /// The last segment of the page's path: the id of what it shows.
    async fn id_in_path(&self) -> String {
        let path = self.path().await;
        path.split('?')
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A firm runs a pilot from the console: registers it (a mistake first, everything typed
/// kept), finds a partner company by name and invites it, adds a milestone and submits; the
/// partner accepts in its own session; once a manager approves, the firm starts the pilot,
/// records the milestone's evidence, files a quarterly report (a mistake first), and after a
/// return edits and resubmits it, every version with its review. Another firm opening the
/// pilot's or the report's address gets the 404 page.
async fn a_firm_runs_a_pilot_and_reports(p: &TestPlatform, test: &'static str, javascript: bool) {
    let lead = p.sign_up("lead@pilot.kr").await;
    p.approved_company(&lead, 7901, "광주로보틱스").await;
    let partner = p.sign_up("partner@pilot.kr").await;
    p.approved_company(&partner, 7902, "빛고을의료AI").await;
    p.sign_up("stranger@pilot.kr").await;
    let today = chrono::Utc::now().date_naive();
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in("lead@pilot.kr").await;
    b.click_link("내 실증사업").await;
    b.wait_for("아직 실증사업이 없습니다").await;
    b.check_page("my-pilots-empty").await;
    b.click_link("실증사업 등록").await;
    b.wait_for("사업명").await;
    b.fill("#title", "광주 AI 배송로봇 실증").await;
    b.fill("#site", "광주 첨단3지구").await;
    b.set_date("starts_on", today - chrono::Duration::days(200))
        .await;
    b.set_date("ends_on", today - chrono::Duration::days(300))
        .await;
    b.fill("#budget_national", "3억").await;
    b.fill("#budget_city", "100,000,000").await;
    b.click("button[value=draft]").await;
    b.wait_for("표시된 항목을 고쳐 주세요").await;
    let text = b.page_text().await;
    assert!(text.contains("종료일은 시작일보다 뒤여야 합니다"), "{text}");
    assert!(text.contains("0 이상의 정수로 입력해 주세요"), "{text}");
    assert_eq!(b.value("#title").await, "광주 AI 배송로봇 실증");
    assert_eq!(b.value("#budget_city").await, "100,000,000");
    b.check_page("pilot-refused").await;
    b.fill("#budget_national", "300,000,000").await;
    b.set_date("ends_on", today + chrono::Duration::days(200))
        .await;
    b.click("button[value=draft]").await;
    b.wait_for("임시 저장했습니다").await;
    let pilot = b.id_in_path().await;
    let text = b.page_text().await;
    assert!(
        text.contains("₩300,000,000") && text.contains("작성 중"),
        "{text}"
    );

    // A partner found by (part of) its name and invited.
    b.fill("#partner-q", "의료").await;
    if !javascript {
        b.click("form[role=search] button").await;
    }
    b.wait_for("빛고을의료AI").await;
    b.check_page("pilot-partner-found").await;
    b.click("#partner-results button").await;
    b.wait_for("초대를 보냈습니다").await;
    assert!(b.page_text().await.contains("초대 중"));
    b.fill("#milestone-title", "배송로봇 10대 도입").await;
    b.set_date("milestone-due", today + chrono::Duration::days(30))
        .await;
    b.click("form[action$='/milestones'] button").await;
    b.wait_for("추진 단계를 추가했습니다").await;
    b.click("form[action$='/submit'] button").await;
    b.wait_for("심사에 제출했습니다").await;
    assert!(b.page_text().await.contains("신청됨"));
    b.check_page("pilot-submitted").await;

    // The partner accepts in its own session.
    let Some(mut partner_browser) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    partner_browser.sign_in("partner@pilot.kr").await;
    partner_browser.click_link("내 실증사업").await;
    partner_browser.wait_for("받은 초대").await;
    partner_browser.check_page("invitation").await;
    partner_browser.click("button[value=accept]").await;
    partner_browser.wait_for("참여를 수락했습니다").await;
    partner_browser.close().await;

    // A manager approves it from the worklist; the firm starts it.
    p.staff_account("pm@city.kr", "박지훈 (AI산업과)", Role::ProgramManager)
        .await;
    let Some(mut m) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    m.sign_in("pm@city.kr").await;
    m.goto("/review").await;
    m.wait_for("실증사업 신청").await;
    m.goto(&format!("/review/pilots/{pilot}")).await;
    m.wait_for("배송로봇 10대 도입").await;
    m.check_page("pilot-review").await;
    m.fill("#note", "예산 확인").await;
    m.click("button[value=approve]").await;
    m.wait_for("실증사업을 승인했습니다").await;
    b.goto(&format!("/my-pilots/{pilot}")).await;
    b.click("form[action$='/start'] button").await;
    b.wait_for("사업을 시작했습니다").await;
    let text = b.page_text().await;
    assert!(
        text.contains("진행 중") && text.contains("예산 확인") && text.contains("참여"),
        "{text}"
    );
    b.fill("input[name=evidence]", "납품 확인서 2027-001").await;
    b.click("form[action$='/complete'] button").await;
    b.wait_for("완료로 기록했습니다").await;
    assert!(b.page_text().await.contains("납품 확인서 2027-001"));
    b.check_page("pilot-active").await;

    // The quarterly report: due, filed (a mistake first), returned, edited, resubmitted.
    b.click_link("성과 보고").await;
    b.wait_for("제출할 보고").await;
    b.check_page("reports").await;
    b.click("td a.krds-btn").await;
    b.wait_for("보고 기간").await;
    b.fill("#revenue_krw", "₩120,000,000").await;
    b.fill("#papers", "두 편").await;
    b.click("button[value=submit]").await;
    b.wait_for("표시된 항목을 고쳐 주세요").await;
    assert_eq!(b.value("#revenue_krw").await, "₩120,000,000");
    b.fill("#papers", "2").await;
    b.click("button[value=submit]").await;
    b.wait_for("제출했습니다").await;
    let report = b.id_in_path().await;
    let text = b.page_text().await;
    assert!(
        text.contains("₩120,000,000") && text.contains("2건") && text.contains("제출됨"),
        "{text}"
    );
    b.check_page("report-submitted").await;
    // The manager returns it: first without a note (refused beside the field), then with one.
    m.goto(&format!("/review/reports/{report}")).await;
    m.wait_for("₩120,000,000").await;
    m.check_page("report-review").await;
    m.click("button[value=return]").await;
    m.wait_for("사유를 적어 주세요").await;
    m.fill("#note", "매출 증빙을 붙여 주세요").await;
    m.click("button[value=return]").await;
    m.wait_for("돌려보냈습니다").await;
    b.goto(&format!("/reports/{report}")).await;
    let text = b.page_text().await;
    assert!(
        text.contains("보완 요청") && text.contains("매출 증빙을 붙여 주세요"),
        "{text}"
    );
    b.click_link("성과 보고 수정").await;
    b.wait_for("근거 자료").await;
    assert_eq!(
        b.value("#papers").await,
        "2",
        "the returned figures are kept"
    );
    b.fill("#evidence", "세금계산서 2026-Q3").await;
    b.click("button[value=submit]").await;
    b.wait_for("제출했습니다").await;
    let text = b.page_text().await;
    assert!(
        text.contains("세금계산서 2026-Q3") && text.contains("매출 증빙을 붙여 주세요"),
        "the version keeps its review: {text}"
    );
    // Names, not ids, in the history: the firm member who submitted.
    assert!(text.contains("홍길동"), "{text}");
    b.check_page("report-resubmitted").await;
    let resubmitted = b.id_in_path().await;
    m.goto(&format!("/review/reports/{resubmitted}")).await;
    m.wait_for("세금계산서 2026-Q3").await;
    m.click("button[value=verify]").await;
    m.wait_for("성과 보고를 확인했습니다").await;
    m.close().await;
    b.goto(&format!("/reports/{resubmitted}")).await;
    assert!(b.page_text().await.contains("확인 완료"), "verified");

    // A voucher for the pilot, applied for from the pilot's page.
    p.open_programme().await;
    b.goto(&format!("/my-pilots/{pilot}")).await;
    b.click_link("바우처 신청").await;
    b.wait_for("연결할 실증사업").await;
    assert_eq!(b.value("#pilot_id").await, pilot, "the pilot is chosen");
    b.fill("#hours", "5").await;
    b.fill("#justification", "배송로봇 경로 계획 모델 학습")
        .await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("신청했습니다").await;
    let applications = p
        .graphql(
            Some(&lead),
            "{ voucherApplications { edges { node { requestedAmount pilot { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        applications["data"]["voucherApplications"]["edges"][0]["node"],
        json!({ "requestedAmount": 18_000, "pilot": { "id": pilot } }),
        "{applications}"
    );

    // A replayed form without the session's CSRF token changes nothing.
    let cookie = b
        .client
        .get_named_cookie("axv_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    let forged = p
        .http
        .post(format!("{}/my-pilots/{pilot}/milestones", p.base_url()))
        .header("cookie", format!("axv_session={cookie}"))
        .form(&[
            ("csrf", "guess"),
            ("title", "위조 단계"),
            ("due_on", "2030-01-01"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        forged.status().is_redirection() || forged.status().is_success(),
        "{}",
        forged.status()
    );
    let milestones = p
        .graphql(
            Some(&lead),
            "query($id: ID!) { pilot(id: $id) { milestones { title } } }",
            json!({ "id": pilot }),
        )
        .await;
    assert_eq!(
        milestones["data"]["pilot"]["milestones"],
        json!([{ "title": "배송로봇 10대 도입" }]),
        "{milestones}"
    );
    b.close().await;

    let Some(mut other) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    other.sign_in("stranger@pilot.kr").await;
    for path in [
        format!("/my-pilots/{pilot}"),
        format!("/my-pilots/{pilot}/edit"),
        format!("/reports/{report}"),
        format!("/reports/{report}/edit"),
    ] {
        other.goto(&path).await;
        assert_eq!(
            other.text("h1").await,
            "페이지를 찾을 수 없습니다",
            "{path}"
        );
    }
    // The worklist's copies of those pages are for staff: a firm gets the 403 page.
    for path in [
        format!("/review/pilots/{pilot}"),
        format!("/review/reports/{report}"),
    ] {
        other.goto(&path).await;
        assert!(
            other.page_text().await.contains("권한이 없습니다"),
            "{path}"
        );
    }
    other.close().await;
}

/// A programme manager works the demo's worklist: every queue's count, a search by name, a
/// company waiting for review opened and picked up, changes requested (first without a note:
/// refused beside the field, the page kept), the firm resubmits, the manager approves and the
/// firm's company leaves the queue. A firm member at the worklist's address gets the 403 page.
async fn a_manager_works_the_worklist(p: &TestPlatform, test: &'static str, javascript: bool) {
    let firm = p.sign_up("review@company.kr").await;
    let id = p.submitted_company(&firm, 7901, "광주검토랩").await;
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in_with(axv::demo::MANAGER_EMAIL, axv::demo::DEMO_PASSWORD)
        .await;
    b.click_link("검토 대기함").await;
    b.wait_for("기업 등록 심사").await;
    let counts = b.text("#queue-counts").await;
    for queue in [
        "기업 등록 심사",
        "바우처 신청",
        "실증사업 신청",
        "성과 보고 확인",
        "제출 기한이 지난 성과 보고",
        "잔액 부족·만료 임박 바우처",
    ] {
        assert!(counts.contains(queue), "{queue} missing: {counts}");
    }
    b.check_page("worklist").await;
    b.fill("#q", "검토랩").await;
    b.click("form.filters button[type=submit]").await;
    b.wait_for("조건 지우기").await;
    assert_eq!(
        b.text("#queue-companies tbody").await.lines().count(),
        1,
        "only the searched company"
    );
    b.check_page("worklist-searched").await;
    b.click_link("광주검토랩").await;
    b.wait_for("검토 시작").await;
    assert_eq!(b.path().await, format!("/review/companies/{id}"));
    b.check_page("company-review").await;
    b.click("button[value=start]").await;
    b.wait_for("검토를 시작했습니다").await;
    assert!(b.page_text().await.contains("담당: 이서연"));
    b.click("button[value=request-changes]").await;
    b.wait_for("사유를 적어 주세요").await;
    b.check_page("company-review-note-missing").await;
    b.fill("#note", "사업자등록증 사본을 첨부해 주세요").await;
    b.click("button[value=request-changes]").await;
    b.wait_for("보완을 요청했습니다").await;
    assert_eq!(b.path().await, "/review");

    p.move_company(&firm, "submitCompany", &id).await;
    b.goto(&format!("/review/companies/{id}")).await;
    b.click("button[value=start]").await;
    b.wait_for("검토를 시작했습니다").await;
    b.fill("#note", "서류 확인 완료").await;
    b.click("button[value=approve]").await;
    b.wait_for("승인했습니다").await;
    assert!(!b.text("#queue-companies").await.contains("광주검토랩"));
    b.goto(&format!("/review/companies/{id}")).await;
    let text = b.page_text().await;
    for said in [
        "사업자등록증 사본을 첨부해 주세요",
        "서류 확인 완료",
        "정지",
    ] {
        assert!(text.contains(said), "{said}: {text}");
    }
    b.check_page("company-review-approved").await;
    b.close().await;

    let Some(mut firm_browser) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    firm_browser.sign_in("review@company.kr").await;
    assert!(!firm_browser.text("nav").await.contains("검토 대기함"));
    for path in ["/review".to_owned(), format!("/review/companies/{id}")] {
        firm_browser.goto(&path).await;
        assert!(
            firm_browser.page_text().await.contains("권한이 없습니다"),
            "{path}"
        );
    }
    firm_browser.check_page("worklist-forbidden").await;
    // Posting a decision by hand, with the firm's own session and token, is the 403 page too,
    // even for an action the page would never offer.
    firm_browser.goto("/account").await;
    let csrf = firm_browser.value("input[name=csrf]").await;
    let cookie = firm_browser
        .client
        .get_named_cookie("axv_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    for action in ["approve", "bogus"] {
        let posted = p
            .http
            .post(format!("{}/review/companies/{id}", p.base_url()))
            .header("cookie", format!("axv_session={cookie}"))
            .form(&[("csrf", csrf.as_str()), ("action", action), ("note", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), reqwest::StatusCode::FORBIDDEN, "{action}");
    }
    firm_browser.close().await;
}

/// A manager decides a voucher application in hours: words and more than was asked are refused
/// beside the field with what was typed kept, then part is granted; the firm sees the hours.
async fn a_manager_grants_a_voucher_in_part(
    p: &TestPlatform,
    test: &'static str,
    javascript: bool,
) {
    let firm = p.sign_up("grant@company.kr").await;
    let company = p.approved_company(&firm, 7902, "광주부분승인랩").await;
    let programme = p.open_programme().await;
    let apply = |hours: i64, justification: &'static str| {
        let (firm, programme, company) = (firm.clone(), programme.clone(), company.clone());
        async move {
            let applied = p
                .graphql(
                    Some(&firm),
                    "mutation($input: VoucherApplicationInput!) { applyForVoucher(input: $input) { id } }",
                    json!({ "input": {
                        "programId": programme,
                        "companyId": company,
                        "requestedAmount": hours * 3600,
                        "justification": justification,
                    } }),
                )
                .await;
            applied["data"]["applyForVoucher"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{applied}"))
                .to_owned()
        }
    };
    let application = apply(20, "교통 신호 최적화 모델 학습").await;
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in_with(axv::demo::MANAGER_EMAIL, axv::demo::DEMO_PASSWORD)
        .await;
    b.goto("/review").await;
    b.click_link("광주부분승인랩").await;
    b.wait_for("기업당 한도").await;
    assert_eq!(
        b.path().await,
        format!("/review/applications/{application}")
    );
    let text = b.page_text().await;
    for shown in ["교통 신호 최적화 모델 학습", "20시간", "실증 컴퓨팅 바우처"]
    {
        assert!(text.contains(shown), "{shown}: {text}");
    }
    b.check_page("application-review").await;
    b.fill("#granted_hours", "열 시간").await;
    b.fill("#note", "예산 범위 안에서 일부 승인").await;
    b.click("button[value=approve]").await;
    b.wait_for("1 이상의 정수로 입력해 주세요").await;
    assert_eq!(b.value("#note").await, "예산 범위 안에서 일부 승인");
    b.fill("#granted_hours", "30").await;
    b.click("button[value=approve]").await;
    b.wait_for("신청한 시간보다 많이 승인할 수 없습니다").await;
    b.check_page("application-review-too-much").await;
    b.fill("#granted_hours", "12").await;
    b.click("button[value=approve]").await;
    b.wait_for("일부를 승인하고 바우처를 발급했습니다").await;
    b.goto(&format!("/review/applications/{application}")).await;
    let text = b.page_text().await;
    assert!(
        text.contains("12시간") && text.contains("예산 범위 안에서 일부 승인"),
        "{text}"
    );
    assert!(text.contains("지금 상태에서는 결정할 것이 없습니다"));

    // Another manager decides a second application while this page is open: the decision is
    // refused in words, with what was typed kept.
    let second = apply(4, "추가 학습").await;
    b.goto(&format!("/review/applications/{second}")).await;
    b.wait_for("추가 학습").await;
    let rejected = p
        .graphql(
            Some(&p.token(Role::ProgramManager)),
            "mutation($id: ID!) { rejectVoucherApplication(id: $id, note: \"중복 신청\") { status } }",
            json!({ "id": second }),
        )
        .await;
    assert_eq!(
        rejected["data"]["rejectVoucherApplication"]["status"], "REJECTED",
        "{rejected}"
    );
    b.fill("#note", "늦은 승인 시도").await;
    b.click("button[value=approve]").await;
    b.wait_for("다른 담당자가 먼저 처리했을 수 있으니").await;
    b.check_page("application-review-decided-meanwhile").await;
    b.close().await;

    let Some(mut firm_browser) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    firm_browser.sign_in("grant@company.kr").await;
    firm_browser.goto("/vouchers").await;
    assert!(firm_browser.page_text().await.contains("12시간"));
    firm_browser
        .goto(&format!("/review/applications/{application}"))
        .await;
    assert!(firm_browser.page_text().await.contains("권한이 없습니다"));
    firm_browser.close().await;
}

#[tokio::test]
async fn a_manager_grants_a_voucher_in_part_with_javascript() {
    let p = TestPlatform::start_demo().await;
    a_manager_grants_a_voucher_in_part(&p, "grant-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn a_manager_grants_a_voucher_in_part_without_javascript() {
    let p = TestPlatform::start_embedded_demo().await;
    a_manager_grants_a_voucher_in_part(&p, "grant-nojs", false).await;
    p.stop().await;
}

/// An admin adds a resource pool in hours (a word first: refused beside the field, the rest
/// kept) and opens a call limited to one industry; a manager may open calls but not add pools;
/// a firm gets the 403 page.
async fn an_admin_opens_a_call(p: &TestPlatform, test: &'static str, javascript: bool) {
    p.staff_account("admin@city.kr", "최관리 (플랫폼)", Role::Admin)
        .await;
    p.staff_account("pm@city.kr", "박지훈 (AI산업과)", Role::ProgramManager)
        .await;
    p.sign_up("firm@call.kr").await;
    let today = axv_platform::calendar::today_kst();
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in("admin@city.kr").await;
    b.click_link("자원·공모").await;
    b.wait_for("아직 자원 풀이 없습니다").await;
    // No pool, no call: the button waits for one.
    assert!(!b.page_text().await.contains("공모 열기"));
    b.check_page("programmes-empty").await;
    b.click_link("자원 풀 추가").await;
    b.wait_for("용량 (시간, 스토리지는 GB·일)").await;
    b.fill("#name", "국가AI데이터센터 H100 2027").await;
    b.fill("#capacity", "많이").await;
    b.set_date("valid_from", today).await;
    b.set_date("valid_until", today + chrono::Duration::days(365))
        .await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("표시된 항목을 고쳐 주세요").await;
    assert_eq!(b.value("#name").await, "국가AI데이터센터 H100 2027");
    assert_eq!(b.value("#capacity").await, "많이");
    b.check_page("pool-refused").await;
    b.fill("#capacity", "99,999,999,999").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("너무 큽니다").await;
    b.fill("#capacity", "10,000").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("자원 풀을 추가했습니다").await;
    assert!(b.page_text().await.contains("10,000시간"));
    b.click_link("공모 열기").await;
    b.wait_for("신청할 수 있는 산업을 고르세요").await;
    b.fill("#name", "2027 AX 실증 바우처 1차").await;
    b.set_date("opens_on", today).await;
    b.set_date("closes_on", today + chrono::Duration::days(30))
        .await;
    b.fill("#max_per_company", "200").await;
    b.click("label[for=sector_ENERGY]").await;
    b.check_page("call-form").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("공모를 열었습니다").await;
    let text = b.page_text().await;
    for shown in ["2027 AX 실증 바우처 1차", "200시간", "에너지"] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
    b.check_page("programmes").await;
    b.close().await;

    let Some(mut m) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    m.sign_in("pm@city.kr").await;
    m.goto("/programmes").await;
    assert!(m.page_text().await.contains("2027 AX 실증 바우처 1차"));
    assert!(!m.page_text().await.contains("자원 풀 추가"));
    m.goto("/programmes/pools/new").await;
    assert!(m.page_text().await.contains("권한이 없습니다"));
    m.close().await;

    let Some(mut firm) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    firm.sign_in("firm@call.kr").await;
    for path in ["/programmes", "/programmes/new", "/programmes/pools/new"] {
        firm.goto(path).await;
        assert!(firm.page_text().await.contains("권한이 없습니다"), "{path}");
    }
    firm.close().await;
}

/// The data center's operator uploads the demo's week of sacct output (the repository's
/// fixture, charged to the demo's vouchers): forgetting the file or the cluster is said beside
/// the field; the result shows the GPU-hours per voucher and every refused line with its
/// reason in Korean; the same file again charges nothing; a file that is not sacct output is
/// refused whole, in words. A manager and a firm get the 403 page.
async fn an_operator_uploads_usage(p: &TestPlatform, test: &'static str, javascript: bool) {
    let dir = tempfile::tempdir().unwrap();
    let week = dir.path().join("sacct-h100-week.txt");
    std::fs::write(&week, p.demo_sacct.as_deref().unwrap()).unwrap();
    let expected = axv_vouchers::sacct::parse(p.demo_sacct.as_deref().unwrap()).unwrap();
    let not_sacct = dir.path().join("jobs.csv");
    std::fs::write(&not_sacct, "job,gpu_hours\n4701,26\n").unwrap();
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in_with(axv::demo::OPERATOR_EMAIL, axv::demo::DEMO_PASSWORD)
        .await;
    b.click_link("사용량 업로드").await;
    b.wait_for("아직 올린 파일이 없습니다").await;
    b.check_page("usage-empty").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("클러스터 이름을 입력하세요").await;
    b.fill("#cluster", "h100").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("올릴 파일을 고르세요").await;
    assert_eq!(b.value("#cluster").await, "h100");

    b.choose_file("#file", &week).await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("바우처별 차감").await;
    let text = b.page_text().await;
    assert!(
        text.contains(&format!("{}건", expected.jobs.len() - 25)),
        "115 jobs charged, 25 refused for their accounts: {text}"
    );
    for shown in [
        "4,233.5 GPU 시간",
        "29줄",
        "계정(Account)이 어느 바우처 코드와도 맞지 않음",
        "sacct --parsable2 형식에 맞지 않는 줄",
        "malformed ElapsedRaw",
    ] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
    let refused_rows = b
        .client
        .find_all(Locator::Css("#refused ~ table tbody tr"))
        .await
        .unwrap();
    assert_eq!(refused_rows.len(), 29);
    b.check_page("usage-result").await;

    // The same week again: every job was uploaded before; nothing more is charged.
    b.goto("/usage").await;
    b.fill("#cluster", "h100").await;
    b.choose_file("#file", &week).await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("바우처별 차감").await;
    let text = b.page_text().await;
    assert!(text.contains("0.0 GPU 시간"), "{text}");
    assert!(
        text.contains("이 파일로 차감한 바우처가 없습니다"),
        "{text}"
    );

    b.goto("/usage").await;
    b.fill("#cluster", "h100").await;
    b.choose_file("#file", &not_sacct).await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("아무것도 차감하지 않았습니다").await;
    assert!(b.page_text().await.contains("JobID"));
    assert_eq!(b.value("#cluster").await, "h100");
    let history = b
        .client
        .find_all(Locator::Css("table.data tbody tr"))
        .await
        .unwrap();
    assert_eq!(history.len(), 2, "two uploads in the history");
    b.check_page("usage-history").await;
    b.close().await;

    for who in [axv::demo::MANAGER_EMAIL, axv::demo::FIRM_EMAIL] {
        let Some(mut other) = Browser::start(p.base_url(), test, javascript).await else {
            return;
        };
        other.sign_in_with(who, axv::demo::DEMO_PASSWORD).await;
        other.goto("/usage").await;
        assert!(other.page_text().await.contains("권한이 없습니다"), "{who}");
        assert!(
            !other.page_text().await.contains("사용량 업로드"),
            "{who}: no menu entry"
        );
        other.close().await;
    }
}

#[tokio::test]
async fn an_operator_uploads_usage_with_javascript() {
    let p = TestPlatform::start_demo().await;
    an_operator_uploads_usage(&p, "usage-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn an_operator_uploads_usage_without_javascript() {
    let p = TestPlatform::start_embedded_demo().await;
    an_operator_uploads_usage(&p, "usage-nojs", false).await;
    p.stop().await;
}

/// An admin adds a programme manager (a taken e-mail is said beside the field, what was
/// typed kept), hands over the temporary password shown once, and the manager signs in with
/// it; the admin deactivates the account (the manager's sign-in is refused in words) and
/// registers an API client, whose secret obtains a token until the admin revokes it after a
/// confirmation. A manager gets the 403 page.
async fn an_admin_manages_staff_and_api_clients(
    p: &TestPlatform,
    test: &'static str,
    javascript: bool,
) {
    p.staff_account("admin@city.kr", "최관리 (플랫폼)", Role::Admin)
        .await;
    p.staff_account("pm@city.kr", "박지훈 (AI산업과)", Role::ProgramManager)
        .await;
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in("admin@city.kr").await;
    b.click_link("관리").await;
    b.wait_for("직원 추가").await;
    assert!(b.page_text().await.contains("박지훈 (AI산업과)"));
    b.check_page("staff").await;
    b.click_link("직원 추가").await;
    b.wait_for("동료들이 알아보는 이름입니다").await;
    b.fill("#name", "이서연 (AI산업과)").await;
    b.fill("#email", "PM@city.kr").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("이 이메일로 된 계정이 이미 있습니다").await;
    assert_eq!(b.value("#name").await, "이서연 (AI산업과)");
    b.fill("#email", "seoyeon@city.kr").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("지금 한 번만 보입니다").await;
    let password = b.text("pre.secret").await;
    assert_eq!(password.len(), 19, "{password}");
    b.check_page("staff-created").await;
    let shown_once = b.path().await;
    b.goto(&shown_once).await;
    assert!(b.page_text().await.contains("한 번만 보여 드렸습니다"));
    assert!(!b.page_text().await.contains(&password));

    let Some(mut pm) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    pm.sign_in_with("seoyeon@city.kr", &password).await;
    pm.goto("/review").await;
    assert!(pm.page_text().await.contains("검토 대기함"));
    for path in [
        "/admin/staff",
        "/admin/api-clients",
        "/admin/api-clients/new",
    ] {
        pm.goto(path).await;
        assert!(pm.page_text().await.contains("권한이 없습니다"), "{path}");
    }

    // She forgot her password: a new temporary one, after a page that says what it does; her
    // session ends and the old password stops working.
    b.goto("/admin/staff").await;
    b.client
        .find(Locator::XPath(
            "//tr[contains(., 'seoyeon@city.kr')]//a[contains(., '임시 비밀번호 재발급')]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("지금 비밀번호는 바로 쓸 수 없게 되고").await;
    b.check_page("staff-reissue").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("새 임시 비밀번호를 발급했습니다").await;
    let reissued = b.text("pre.secret").await;
    assert!(reissued.len() == 19 && reissued != password, "{reissued}");
    pm.goto("/review").await;
    // Her browser is sent to sign in again, in words, and comes back after.
    pm.wait_for("비밀번호나 역할이 바뀌었을 수 있습니다").await;
    assert_eq!(pm.path().await, "/login");
    pm.close().await;
    let password = reissued;

    b.goto("/admin/staff").await;
    let deactivate = b
        .client
        .find(Locator::XPath(
            "//tr[contains(., 'seoyeon@city.kr')]//button[contains(., '비활성화')]",
        ))
        .await
        .unwrap();
    deactivate.click().await.unwrap();
    b.wait_for("계정을 비활성화했습니다").await;
    assert!(b.page_text().await.contains("에 비활성화"));
    let Some(mut gone) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    gone.goto("/login").await;
    gone.fill("#email", "seoyeon@city.kr").await;
    gone.fill("#password", &password).await;
    gone.click("form.form-narrow button[type=submit]").await;
    gone.wait_for("관리자가 비활성화해 로그인할 수 없습니다")
        .await;
    gone.close().await;

    b.click_link("API 클라이언트").await;
    b.wait_for("아직 등록한 API 클라이언트가 없습니다").await;
    b.click_link("API 클라이언트 등록").await;
    b.fill("#name", "광주시 성과 대시보드").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("지금 한 번만 보입니다").await;
    let secret = b.text("pre.secret").await;
    let client_id = b.path().await.split('/').nth(3).unwrap().to_owned();
    let token = |secret: String, client_id: String| async move {
        p.http
            .post(format!("{}/oauth/token", p.base_url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .status()
    };
    assert!(token(secret.clone(), client_id.clone()).await.is_success());
    b.goto("/admin/api-clients").await;
    b.client
        .find(Locator::XPath(
            "//tr[contains(., '광주시 성과 대시보드')]//a[contains(., '폐기')]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("되돌릴 수 없습니다").await;
    b.check_page("api-client-revoke").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("API 클라이언트를 폐기했습니다").await;
    assert!(b.page_text().await.contains("폐기됨"));
    assert!(!token(secret, client_id).await.is_success());
    b.check_page("api-clients").await;

    // The register form sent twice at once (a double click) makes one client, and both
    // answers lead to the one page with its secret.
    let cookie = format!(
        "axv_session={}",
        b.client
            .get_named_cookie("axv_session")
            .await
            .unwrap()
            .value()
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = http
        .get(format!("{}/admin/api-clients/new", p.base_url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let hidden = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = form
            .find(&marker)
            .unwrap_or_else(|| panic!("{name}: {form}"))
            + marker.len();
        form[start..].split('"').next().unwrap().to_owned()
    };
    let fields = [
        ("csrf", hidden("csrf")),
        ("once", hidden("once")),
        ("name", "두 번 누른 대시보드".to_owned()),
        ("role", "DASHBOARD".to_owned()),
    ];
    let send = || {
        http.post(format!("{}/admin/api-clients/new", p.base_url()))
            .header("cookie", &cookie)
            .form(&fields)
            .send()
    };
    let (first, second) = tokio::join!(send(), send());
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (303, 303)
    );
    assert_eq!(first.headers()["location"], second.headers()["location"]);
    let shown = http
        .get(format!(
            "{}{}",
            p.base_url(),
            first.headers()["location"].to_str().unwrap()
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains("지금 한 번만 보입니다"), "{shown}");
    let clients = p
        .graphql(
            Some(&p.token(axv_auth::Role::Admin)),
            "{ apiClients { name } }",
            json!({}),
        )
        .await;
    let twice = clients["data"]["apiClients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "두 번 누른 대시보드")
        .count();
    assert_eq!(twice, 1, "{clients}");
    b.close().await;
}

#[tokio::test]
async fn an_admin_manages_staff_and_api_clients_with_javascript() {
    let p = TestPlatform::start().await;
    an_admin_manages_staff_and_api_clients(&p, "admin-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn an_admin_manages_staff_and_api_clients_without_javascript() {
    let p = TestPlatform::start_embedded().await;
    an_admin_manages_staff_and_api_clients(&p, "admin-nojs", false).await;
    p.stop().await;
}

/// A manager reads the live figures: every table with Korean headers, a filter by industry
/// that narrows the companies, a period the wrong way round said in words; the workbook
/// opened by a spreadsheet reader has a sheet per table with the API's figures, and each
/// table's CSV starts with a byte order mark. A firm gets the 403 page for all of it.
async fn a_manager_reads_the_figures(p: &TestPlatform, test: &'static str, javascript: bool) {
    use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in_with(axv::demo::MANAGER_EMAIL, axv::demo::DEMO_PASSWORD)
        .await;
    b.click_link("사업 성과").await;
    b.wait_for("기업별").await;
    for shown in [
        "요약",
        "자원 풀",
        "산업별",
        "실증 분야별",
        "분기별",
        "매출 (₩)",
    ] {
        assert!(b.page_text().await.contains(shown), "{shown}");
    }
    b.check_page("figures").await;
    b.goto("/figures?sector=MOBILITY").await;
    let rows = b
        .client
        .find_all(Locator::Css("#table-companies ~ div table tbody tr"))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let text = row.text().await.unwrap();
        assert!(text.contains("모빌리티"), "{text}");
    }
    // By funding source: only the city's pools, and the choice kept in the form.
    b.goto("/figures?funding=CITY").await;
    let pools = b
        .client
        .find_all(Locator::Css("#table-pools ~ div table tbody tr"))
        .await
        .unwrap();
    assert!(!pools.is_empty());
    for row in pools {
        let text = row.text().await.unwrap();
        assert!(text.contains("시비"), "{text}");
    }
    assert_eq!(b.value("#funding").await, "CITY");
    b.goto("/figures?funding=LOTTERY").await;
    assert!(
        b.page_text().await.contains("고를 수 없는 산업·분야·재원"),
        "{}",
        b.page_text().await
    );
    b.goto("/figures?from=2026-05-01&to=2026-01-01").await;
    assert!(b.page_text().await.contains("시작일이 종료일보다 늦습니다"));
    let cookie = b
        .client
        .get_named_cookie("axv_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    b.close().await;

    let get = |path: &'static str| {
        let cookie = cookie.clone();
        async move {
            p.http
                .get(format!("{}{path}", p.base_url()))
                .header("cookie", format!("axv_session={cookie}"))
                .send()
                .await
                .unwrap()
        }
    };
    let workbook = get("/figures.xlsx").await;
    assert_eq!(workbook.status(), reqwest::StatusCode::OK);
    assert!(
        workbook.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".xlsx")
    );
    let bytes = workbook.bytes().await.unwrap();
    let mut book: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(
        book.sheet_names(),
        [
            "요약",
            "자원 풀",
            "산업별",
            "실증 분야별",
            "기업별",
            "분기별"
        ]
    );
    let api = p
        .graphql(
            Some(&p.token(Role::ProgramManager)),
            "{ programStats(view: LIVE) { approvedCompanies outcomes { revenueKrw } byCompany { company { nameKo } outcomes { revenueKrw } } } }",
            json!({}),
        )
        .await;
    let stats = &api["data"]["programStats"];
    let number = |cell: &Data| match cell {
        Data::Float(f) => *f as i64,
        Data::Int(n) => *n,
        other => panic!("not a number: {other:?}"),
    };
    let summary = book.worksheet_range("요약").unwrap();
    let value_of = |label: &str| {
        summary
            .rows()
            .find(|row| row[0] == Data::String(label.into()))
            .map(|row| number(&row[1]))
            .unwrap_or_else(|| panic!("{label} missing"))
    };
    assert_eq!(
        value_of("매출 (₩)"),
        stats["outcomes"]["revenueKrw"].as_i64().unwrap()
    );
    assert_eq!(
        value_of("승인 기업"),
        stats["approvedCompanies"].as_i64().unwrap()
    );
    let companies = book.worksheet_range("기업별").unwrap();
    let mut rows = companies.rows();
    let headers: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(headers[..3], ["기업", "사업자등록번호", "산업"]);
    let revenue_col = headers.iter().position(|h| h == "매출 (₩)").unwrap();
    let by_company = stats["byCompany"].as_array().unwrap();
    assert_eq!(companies.rows().count() - 1, by_company.len());
    for row in rows {
        let name = row[0].to_string();
        let api_row = by_company
            .iter()
            .find(|c| c["company"]["nameKo"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} not in the API's answer"));
        assert_eq!(
            number(&row[revenue_col]),
            api_row["outcomes"]["revenueKrw"].as_i64().unwrap(),
            "{name}"
        );
    }

    let csv = get("/figures/companies.csv").await;
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    assert!(
        text.starts_with("\u{feff}기업,사업자등록번호,산업,"),
        "{}",
        &text[..80]
    );
    assert_eq!(text.lines().count(), by_company.len() + 1);
    assert_eq!(
        get("/figures/nothing.csv").await.status(),
        reqwest::StatusCode::NOT_FOUND
    );

    let Some(mut firm) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    firm.sign_in_with(axv::demo::FIRM_EMAIL, axv::demo::DEMO_PASSWORD)
        .await;
    assert!(!firm.text("nav").await.contains("사업 성과"));
    for path in ["/figures", "/figures.xlsx", "/figures/companies.csv"] {
        firm.goto(path).await;
        assert!(firm.page_text().await.contains("권한이 없습니다"), "{path}");
    }
    firm.close().await;
}

#[tokio::test]
async fn a_manager_reads_the_figures_with_javascript() {
    let p = TestPlatform::start_demo().await;
    a_manager_reads_the_figures(&p, "figures-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn a_manager_reads_the_figures_without_javascript() {
    let p = TestPlatform::start_embedded_demo().await;
    a_manager_reads_the_figures(&p, "figures-nojs", false).await;
    p.stop().await;
}

/// Two managers on one worklist: the first picks a voucher application up; the second sees who
/// holds it, is refused a decision in words (the note kept) until taking it over, then decides;
/// with JavaScript, the first manager's open worklist counts the application gone without a
/// reload.
async fn two_managers_share_the_worklist(p: &TestPlatform, test: &'static str, javascript: bool) {
    p.staff_account("pm2@city.kr", "박두리 (AI산업과)", Role::ProgramManager)
        .await;
    let Some(mut a) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    a.sign_in_with(axv::demo::MANAGER_EMAIL, axv::demo::DEMO_PASSWORD)
        .await;
    a.goto("/review").await;
    let waiting: i64 = a
        .text("[data-queue=applications]")
        .await
        .trim()
        .parse()
        .unwrap();
    assert!(waiting > 0);
    let link = a
        .client
        .find(Locator::Css("#queue-applications tbody tr a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    a.goto(&link).await;
    assert!(a.page_text().await.contains("아직 아무도 맡지 않았습니다"));
    a.click("#review-claim button").await;
    a.wait_for("맡았습니다").await;
    assert!(a.page_text().await.contains("내가 맡아 검토 중입니다"));
    a.check_page("claim-mine").await;

    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in("pm2@city.kr").await;
    b.goto("/review").await;
    let row = b
        .client
        .find(Locator::Css(&format!(
            "#queue-applications a[href='{link}']"
        )))
        .await
        .unwrap()
        .find(Locator::XPath("./ancestor::tr"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        row.contains("이서연"),
        "the holder is on the worklist: {row}"
    );
    b.goto(&link).await;
    assert!(b.page_text().await.contains("님이 맡아 검토 중입니다"));
    b.fill("#note", "예산 근거가 부족합니다").await;
    b.click("button[value=reject]").await;
    b.wait_for("다른 관리자가 맡고 있어 결정하지 않았습니다")
        .await;
    assert_eq!(b.value("#note").await, "예산 근거가 부족합니다");
    b.check_page("claim-held").await;

    if javascript {
        a.goto("/review").await;
    }
    b.click("#review-claim button").await;
    b.wait_for("넘겨받았습니다").await;
    assert_eq!(
        b.value("#note").await,
        "예산 근거가 부족합니다",
        "taking over keeps the note"
    );
    b.click("button[value=reject]").await;
    b.wait_for("검토 대기함").await;
    assert_eq!(b.path().await, "/review");
    if javascript {
        // The first manager's worklist, open all along, counts one application fewer.
        let mut now = waiting;
        for _ in 0..100 {
            now = a
                .text("[data-queue=applications]")
                .await
                .trim()
                .parse()
                .unwrap_or(waiting);
            if now == waiting - 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(now, waiting - 1, "the open worklist's count follows");
        assert_eq!(a.path().await, "/review", "without a reload");
    }
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn two_managers_share_the_worklist_with_javascript() {
    let p = TestPlatform::start_demo().await;
    two_managers_share_the_worklist(&p, "two-managers-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn two_managers_share_the_worklist_without_javascript() {
    let p = TestPlatform::start_embedded_demo().await;
    two_managers_share_the_worklist(&p, "two-managers-nojs", false).await;
    p.stop().await;
}

#[tokio::test]
async fn an_admin_opens_a_call_with_javascript() {
    let p = TestPlatform::start().await;
    an_admin_opens_a_call(&p, "call-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn an_admin_opens_a_call_without_javascript() {
    let p = TestPlatform::start_embedded().await;
    an_admin_opens_a_call(&p, "call-nojs", false).await;
    p.stop().await;
}

/// The programme office reads the audit trail of the demo's history: people by name and role,
/// what they did in words, the subject and period filters, a mistyped date explained, the CSV
/// for the audit office; a firm member gets the 403 page.
async fn a_manager_reads_the_audit_trail(p: &TestPlatform, test: &'static str, javascript: bool) {
    p.sign_up("firm@audit-page.kr").await;
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in_with(axv::demo::MANAGER_EMAIL, axv::demo::DEMO_PASSWORD)
        .await;
    b.click_link("감사 기록").await;
    b.wait_for("이전 기록 더 보기").await;
    let text = b.page_text().await;
    assert!(text.contains("기록 "), "{text}");
    assert!(text.contains("계정 생성"), "the sign-up just made: {text}");
    b.check_page("audit").await;

    b.set_value("subject", "voucher").await;
    let today = axv_platform::calendar::today_kst();
    b.set_date("from", today - chrono::Duration::days(1)).await;
    b.set_date("to", today).await;
    b.click("form.filters button[type=submit]").await;
    b.wait_for("바우처 발급").await;
    let text = b.page_text().await;
    assert!(
        text.contains("이서연 (광주시 AI산업과) · 사업관리자"),
        "{text}"
    );
    assert!(!text.contains("계정 생성"), "filtered to vouchers: {text}");
    assert_eq!(b.value("#subject").await, "voucher");
    b.check_page("audit-vouchers").await;

    let csv = b.download(p, &b.href("a[href^='/audit.csv']").await).await;
    assert_eq!(csv.status(), reqwest::StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert!(
        csv.starts_with("\u{feff}시각 (KST),누가,한 일,기업,내용,메모\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("바우처 발급") && !csv.contains("계정 생성"),
        "{csv}"
    );

    b.goto("/audit?from=어제").await;
    b.wait_for("연-월-일로 입력해 주세요").await;
    assert!(
        b.page_text().await.contains("계정 생성"),
        "every entry, without the period"
    );
    b.close().await;

    let Some(mut firm) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    firm.sign_in("firm@audit-page.kr").await;
    assert!(!firm.text("nav").await.contains("감사 기록"));
    for path in ["/audit", "/audit.csv"] {
        firm.goto(path).await;
        assert!(firm.page_text().await.contains("권한이 없습니다"), "{path}");
    }
    firm.check_page("audit-forbidden").await;
    firm.close().await;
}

#[tokio::test]
async fn a_manager_reads_the_audit_trail_with_javascript() {
    let p = TestPlatform::start_demo().await;
    a_manager_reads_the_audit_trail(&p, "audit-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn a_manager_reads_the_audit_trail_without_javascript() {
    let p = TestPlatform::start_embedded_demo().await;
    a_manager_reads_the_audit_trail(&p, "audit-nojs", false).await;
    p.stop().await;
}

#[tokio::test]
async fn a_manager_works_the_worklist_with_javascript() {
    let p = TestPlatform::start_demo().await;
    a_manager_works_the_worklist(&p, "worklist-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn a_manager_works_the_worklist_without_javascript() {
    let p = TestPlatform::start_embedded_demo().await;
    a_manager_works_the_worklist(&p, "worklist-nojs", false).await;
    p.stop().await;
}

#[tokio::test]
async fn a_firm_runs_a_pilot_and_reports_with_javascript() {
    let p = TestPlatform::start().await;
    a_firm_runs_a_pilot_and_reports(&p, "pilot-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn a_firm_runs_a_pilot_and_reports_without_javascript() {
    let p = TestPlatform::start_embedded().await;
    a_firm_runs_a_pilot_and_reports(&p, "pilot-nojs", false).await;
    p.stop().await;
}

#[tokio::test]
async fn a_firm_applies_for_a_voucher_with_javascript() {
    let p = TestPlatform::start().await;
    a_firm_applies_for_a_voucher(&p, "voucher-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn a_firm_applies_for_a_voucher_without_javascript() {
    let p = TestPlatform::start_embedded().await;
    a_firm_applies_for_a_voucher(&p, "voucher-nojs", false).await;
    p.stop().await;
}

#[tokio::test]
async fn a_firm_registers_its_company_with_javascript() {
    let p = TestPlatform::start().await;
    a_firm_registers_its_company(&p, "company-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn a_firm_registers_its_company_without_javascript() {
    let p = TestPlatform::start_embedded().await;
    a_firm_registers_its_company(&p, "company-nojs", false).await;
    p.stop().await;
}

#[tokio::test]
async fn anonymous_visitor_on_the_embedded_default() {
    let p = TestPlatform::start_embedded_demo().await;
    anonymous_visitor(&p, "anonymous-embedded").await;
    p.stop().await;
}

#[tokio::test]
async fn anonymous_visitor_on_postgres_and_redis() {
    let p = TestPlatform::start_demo().await;
    anonymous_visitor(&p, "anonymous-postgres").await;
    p.stop().await;
}

#[tokio::test]
async fn sign_up_and_in_with_javascript() {
    let p = TestPlatform::start().await;
    a_person_signs_up_and_in(&p, "accounts-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn sign_up_and_in_without_javascript() {
    let p = TestPlatform::start_embedded().await;
    a_person_signs_up_and_in(&p, "accounts-nojs", false).await;
    p.stop().await;
}

/// The session's access token expires every 15 minutes: the console refreshes it without the
/// person noticing; once the refresh token is refused too, the person is told to sign in again.
#[tokio::test]
async fn sessions_refresh_silently_and_end_clearly() {
    let p = TestPlatform::start().await;
    p.sign_up("refresh@browser.kr").await;
    let Some(mut b) = Browser::start(p.base_url(), "session", true).await else {
        p.stop().await;
        return;
    };
    b.sign_in("refresh@browser.kr").await;
    let old_token = b.stored_session(&p).await.1["user"]["access_token"].clone();
    // The access token has expired.
    b.change_session(&p, |session| {
        session["user"]["access_expires_at"] = json!(0)
    })
    .await;
    b.goto("/account").await;
    assert_eq!(b.path().await, "/account", "refreshed, still signed in");
    assert!(b.page_text().await.contains("refresh@browser.kr"));
    let refreshed = b.stored_session(&p).await.1;
    assert_ne!(refreshed["user"]["access_token"], old_token);
    // Now the refresh token is no good either (revoked, say): signed out, and told so.
    b.end_sign_in(&p).await;
    b.goto("/account").await;
    b.wait_for("로그인 시간이 지났습니다").await;
    assert_eq!(b.path().await, "/login");
    b.check_page("session-expired").await;
    // Signing in again comes back to the page the person was on.
    b.fill("#email", "refresh@browser.kr").await;
    b.fill("#password", PASSWORD).await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("로그인했습니다").await;
    assert_eq!(b.path().await, "/account");
    b.close().await;
    p.stop().await;
}

impl Browser {
    /// The console's stored session for this browser: its key-value key and its content.
    async fn stored_session(&self, p: &TestPlatform) -> (String, Value) {
        use sha2::Digest as _;
        let id = self
            .client
            .get_named_cookie("axv_session")
            .await
            .unwrap()
            .value()
            .to_owned();
        let key = format!(
            "console:session:{}",
            hex::encode(sha2::Sha256::digest(id.as_bytes()))
        );
        let bytes = p.platform.kv.get(&key).await.unwrap().unwrap();
        (key, serde_json::from_slice(&bytes).unwrap())
    }

    async fn change_session(&self, p: &TestPlatform, change: impl FnOnce(&mut Value)) {
        let (key, mut session) = self.stored_session(p).await;
        change(&mut session);
        p.platform
            .kv
            .set(
                &key,
                &serde_json::to_vec(&session).unwrap(),
                Duration::from_secs(600),
            )
            .await
            .unwrap();
    }

    /// The sign-in ends behind the person's back: the access token expired and the refresh
    /// token no longer valid (revoked, or past its lifetime).
    async fn end_sign_in(&self, p: &TestPlatform) {
        self.change_session(p, |session| {
            session["user"]["access_expires_at"] = json!(0);
            session["user"]["refresh_token"] = json!("no-longer-valid");
        })
        .await;
    }
}

/// A form sent after the sign-in ended loses nothing: the person signs in again and sends it
/// as typed with one click. Then, on the account page, the person switches the console to
/// English and changes the password (the wrong current one first).
#[tokio::test]
async fn what_was_typed_survives_an_ended_sign_in_and_the_account_page_works() {
    let p = TestPlatform::start_embedded().await;
    p.sign_up("kept@browser.kr").await;
    let Some(mut b) = Browser::start(p.base_url(), "kept", false).await else {
        p.stop().await;
        return;
    };
    b.sign_in("kept@browser.kr").await;
    b.goto("/companies/new").await;
    b.fill("#business_number", &business_number(7991)).await;
    b.fill("#name_ko", "광주보관랩").await;
    b.fill("#employees", "12").await;
    b.end_sign_in(&p).await;
    b.click("button[value=draft]").await;
    b.wait_for("보내신 내용을 보관했습니다").await;
    assert_eq!(b.path().await, "/login");
    b.fill("#email", "kept@browser.kr").await;
    b.fill("#password", PASSWORD).await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("보관한 내용을 보낼까요?").await;
    b.check_page("form-kept").await;
    b.click("form button.primary").await;
    b.wait_for("임시 저장했습니다").await;
    let text = b.page_text().await;
    assert!(text.contains("광주보관랩") && text.contains("12"), "{text}");

    b.goto("/account").await;
    b.fill("#current_password", "not my password").await;
    b.fill("#new_password", "a brand new passphrase").await;
    b.fill("#new_password_confirm", "a brand new passphrase")
        .await;
    b.click("form[action='/account/password'] button").await;
    b.wait_for("현재 비밀번호가 맞지 않습니다").await;
    b.fill("#current_password", PASSWORD).await;
    b.fill("#new_password", "a brand new passphrase").await;
    b.fill("#new_password_confirm", "a brand new passphrase")
        .await;
    b.click("form[action='/account/password'] button").await;
    b.wait_for("비밀번호를 바꿨습니다").await;
    // Still signed in here, with the new tokens.
    b.goto("/companies").await;
    b.wait_for("광주보관랩").await;
    b.goto("/account").await;
    b.click("#language option[value=en]").await;
    b.click("form[action='/account'] button").await;
    b.wait_for("Saved").await;
    assert_eq!(b.text("h1").await, "My account");
    b.check_page("account-english").await;
    b.close().await;
    // The old password no longer signs in; the new one does, in the person's language.
    let Some(mut again) = Browser::start(p.base_url(), "kept", false).await else {
        p.stop().await;
        return;
    };
    again.goto("/login").await;
    again.fill("#email", "kept@browser.kr").await;
    again.fill("#password", PASSWORD).await;
    again.click("form.form-narrow button[type=submit]").await;
    again.wait_for("이메일 또는 비밀번호가").await;
    again.fill("#password", "a brand new passphrase").await;
    again.click("form.form-narrow button[type=submit]").await;
    again.wait_for("You are signed in").await;
    again.close().await;
    p.stop().await;
}

/// A form replayed without the session's CSRF token, or from another site, changes nothing.
#[tokio::test]
async fn forged_forms_change_nothing() {
    let p = TestPlatform::start_embedded().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let forged = http
        .post(format!("{}/signup", p.base_url()))
        .form(&[
            ("name", "위조"),
            ("email", "forged@browser.kr"),
            ("password", "correct horse battery"),
            ("password_confirm", "correct horse battery"),
            ("csrf", "guess"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let page = forged.text().await.unwrap();
    assert!(page.contains("forged@browser.kr"), "what was typed is kept");
    // Nobody was signed up: the e-mail is still free.
    let login = p
        .graphql(
            None,
            "mutation { login(email: \"forged@browser.kr\", password: \"correct horse battery\") { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(
        login["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{login}"
    );
    // Pages carry a strict Content-Security-Policy.
    let home = http
        .get(format!("{}/signup", p.base_url()))
        .send()
        .await
        .unwrap();
    let csp = home.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    p.stop().await;
}

/// A firm hears of its company's approval in 알림: the header counts it (with JavaScript),
/// the page lists it in Korean, opening it goes to the company and marks it read.
async fn a_firm_reads_its_notifications(p: &TestPlatform, test: &'static str, javascript: bool) {
    let firm = p.sign_up("inbox@company.kr").await;
    let company = p.approved_company(&firm, 7931, "광주알림랩").await;
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.sign_in("inbox@company.kr").await;
    // The message arrives through the event bus; the page is read again until it is there.
    let mut listed = String::new();
    for _ in 0..50 {
        b.goto("/inbox").await;
        listed = b.page_text().await;
        if listed.contains("기업 등록이 승인되었습니다: 광주알림랩") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        listed.contains("기업 등록이 승인되었습니다: 광주알림랩"),
        "{listed}"
    );
    assert!(
        listed.contains("새 알림") && listed.contains("읽지 않은 알림: 1개"),
        "{listed}"
    );
    if javascript {
        // The header's count, filled in after the page loads.
        b.wait_for("읽지 않은 알림 1개").await;
    }
    b.check_page("inbox").await;
    b.click_link("기업 등록이 승인되었습니다: 광주알림랩").await;
    b.wait_for("광주알림랩").await;
    assert_eq!(b.path().await, format!("/companies/{company}"));
    b.goto("/inbox").await;
    let read = b.page_text().await;
    assert!(
        read.contains("읽지 않은 알림: 0개") && !read.contains("새 알림"),
        "{read}"
    );
    // How each kind comes by e-mail: the voucher news gathered in the daily digest.
    b.click_link("알림 설정").await;
    b.wait_for("하루 한 번 모아서 받기").await;
    assert!(b.is_checked("#company-IMMEDIATE").await);
    b.check_page("notification-settings").await;
    b.click("label[for=voucher-DIGEST]").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("알림 설정을 저장했습니다.").await;
    assert!(b.is_checked("#voucher-DIGEST").await);
    assert!(!b.is_checked("#voucher-IMMEDIATE").await);

    // The approval's e-mail link, opened signed out: asked first, then done.
    let token = p.unsubscribe_token("inbox@company.kr").await;
    b.close().await;
    let Some(mut visitor) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    visitor.goto(&format!("/unsubscribe/{token}")).await;
    visitor.wait_for("알림 이메일 수신 거부").await;
    visitor.check_page("unsubscribe").await;
    // Opening the link changes nothing (mail scanners open links too).
    let before = p
        .graphql(
            Some(&firm),
            "{ notificationPreferences { category delivery } }",
            json!({}),
        )
        .await;
    assert_eq!(
        before["data"]["notificationPreferences"][0]["delivery"], "IMMEDIATE",
        "{before}"
    );
    visitor.click("main form button[type=submit]").await;
    visitor
        .wait_for("다음 알림은 이제 이메일로 보내지 않습니다: 기업 등록")
        .await;
    visitor.check_page("unsubscribed").await;
    visitor.goto("/unsubscribe/cut-short").await;
    visitor
        .wait_for("이 링크로는 수신 거부를 할 수 없습니다")
        .await;
    // Only people have an inbox page to see: signed out, it asks to sign in.
    visitor.goto("/inbox").await;
    assert_eq!(visitor.path().await, "/login");
    visitor.goto("/account/notifications").await;
    assert_eq!(visitor.path().await, "/login");
    visitor.sign_in("inbox@company.kr").await;
    visitor.goto("/account/notifications").await;
    assert!(visitor.is_checked("#company-OFF").await);
    assert!(visitor.is_checked("#voucher-DIGEST").await);
    visitor.close().await;
}

/// A person who forgot their password asks for a link from the sign-in page, is told the same
/// whatever the address, opens the mailed link, mistypes the confirmation, sets the password
/// and signs in with it; the used link then says plainly that it cannot be used.
async fn a_person_resets_a_forgotten_password(
    p: &TestPlatform,
    test: &'static str,
    javascript: bool,
) {
    p.sign_up("forgot@company.kr").await;
    let Some(mut b) = Browser::start(p.base_url(), test, javascript).await else {
        return;
    };
    b.goto("/login").await;
    b.click_link("비밀번호 재설정").await;
    b.wait_for("재설정 링크 받기").await;
    b.check_page("forgot").await;
    b.fill("#email", "forgot@company.kr").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("가입한 계정이 있으면 비밀번호 재설정 링크를 보냈습니다")
        .await;
    assert_eq!(b.path().await, "/login");

    let mail = p.mail_text("forgot@company.kr", "/password/reset/").await;
    let token = super::password_reset::reset_token(&mail);
    b.goto(&format!("/password/reset/{token}")).await;
    b.wait_for("새 비밀번호 정하기").await;
    b.check_page("reset").await;
    b.fill("#password", "short").await;
    b.fill("#password_confirm", "short").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("비밀번호가 너무 짧습니다. 12자 이상으로 정해 주세요.")
        .await;
    b.fill("#password", "a brand new passphrase").await;
    b.fill("#password_confirm", "a brand new passphras").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("두 비밀번호가 같지 않습니다").await;
    b.fill("#password", "a brand new passphrase").await;
    b.fill("#password_confirm", "a brand new passphrase").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("비밀번호를 바꿨습니다. 새 비밀번호로 로그인하세요.")
        .await;
    b.sign_in_with("forgot@company.kr", "a brand new passphrase")
        .await;
    b.goto(&format!("/password/reset/{token}")).await;
    b.fill("#password", "yet another passphrase").await;
    b.fill("#password_confirm", "yet another passphrase").await;
    b.click("form.form-narrow button[type=submit]").await;
    b.wait_for("이 링크로는 비밀번호를 바꿀 수 없습니다").await;
    b.check_page("reset-unusable").await;
    b.close().await;
}

#[tokio::test]
async fn a_person_resets_a_forgotten_password_with_javascript() {
    let p = TestPlatform::start().await;
    a_person_resets_a_forgotten_password(&p, "reset-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn a_person_resets_a_forgotten_password_without_javascript() {
    let p = TestPlatform::start_embedded().await;
    a_person_resets_a_forgotten_password(&p, "reset-nojs", false).await;
    p.stop().await;
}

#[tokio::test]
async fn a_firm_reads_its_notifications_with_javascript() {
    let p = TestPlatform::start().await;
    a_firm_reads_its_notifications(&p, "inbox-js", true).await;
    p.stop().await;
}

#[tokio::test]
async fn a_firm_reads_its_notifications_without_javascript() {
    let p = TestPlatform::start_embedded().await;
    a_firm_reads_its_notifications(&p, "inbox-nojs", false).await;
    p.stop().await;
}
